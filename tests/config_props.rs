//! Any run config, however hostile, is parsed, validated and sized without a panic and
//! without allocating in proportion to the numbers it holds (proptest).
//!
//! Its own test binary, because it counts this thread's heap allocations with a global
//! allocator: a parser that allocated `model.width` or `loop.batch_size` bytes up front
//! would show here before it could exhaust a machine.

use cifar_repro::config::TrainConfig;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the bytes each thread asks for.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// thread-local cell, touched without allocating.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(layout.size())));
        // SAFETY: as the caller's contract for `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller's contract for `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes this thread allocated while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let value = f();
    (value, ALLOCATED.with(Cell::get) - before)
}

const FIXTURE: &str = include_str!("fixtures/snapshot/run.toml");

/// Every `key = value` line of the fixture, as (line index, key).
fn keys() -> Vec<(usize, String)> {
    FIXTURE
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.split_once(" = ").map(|(k, _)| (i, k.to_owned())))
        .collect()
}

/// A TOML value of any kind and size, hostile numbers included.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u32>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("-inf".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("1e308".to_owned()),
        "[a-z\\-]{0,12}".prop_map(|s| format!("{s:?}")),
        proptest::collection::vec(any::<i32>(), 0..4).prop_map(|v| format!("{v:?}")),
        Just("{}".to_owned()),
        Just("true".to_owned()),
    ]
}

/// The fixture with some of its values replaced.
fn config_text() -> impl Strategy<Value = String> {
    let keys = keys();
    proptest::collection::vec((0..keys.len(), value()), 1..6).prop_map(move |edits| {
        let mut lines: Vec<String> = FIXTURE.lines().map(str::to_owned).collect();
        for (k, v) in edits {
            let (line, key) = &keys[k];
            lines[*line] = format!("{key} = {v}");
        }
        lines.join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_config_parses_validates_and_sizes_without_panic_in_bounded_memory(text in config_text()) {
        let (_, bytes) = allocated_by(|| {
            if let Ok(config) = TrainConfig::from_toml(&text) {
                let _ = config.estimated_training_bytes();
                let _ = config.model.footprint(config.augment.output_side());
                let _ = config.to_toml();
            }
        });
        prop_assert!(bytes < 1 << 20, "{bytes} bytes allocated for a {}-byte config", text.len());
    }

    #[test]
    fn any_utf8_is_refused_or_parsed_without_panic(text in "\\PC{0,400}") {
        let (_, bytes) = allocated_by(|| TrainConfig::from_toml(&text).map(|c| c.validate()));
        prop_assert!(bytes < 1 << 20, "{bytes} bytes allocated");
    }
}

#[test]
fn the_counter_sees_an_allocation_the_size_of_a_config_value() {
    let width = 2 << 20;
    let (v, bytes) = allocated_by(|| vec![0u8; std::hint::black_box(width)]);
    assert_eq!(v.len(), width);
    assert!(bytes >= width, "{bytes}");
}
