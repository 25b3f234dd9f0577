//! Golden snapshots (insta, under `golden/snapshots/`) of one small fixed run
//! (`tests/fixtures/snapshot/run.toml`), trained in a child process.
//!
//! Two snapshots, because two kinds of numbers live in a run:
//! - `streams`: the seed tree's consumers, the data order and the augmentation parameters
//!   of every epoch. They come from cifar-repro's own integer code and must match on
//!   every platform.
//! - `numerics@PLATFORM`: the weights hash after each epoch, the traced losses, and the
//!   final metrics and confusion matrices. libtorch's CPU kernels differ with the
//!   instruction set they dispatch to and with the thread count, so this snapshot is named
//!   by `ARCH-OS-CPUCAPABILITY-tTHREADS` (e.g. `x86_64-linux-avx512-t1`), read from the
//!   run's manifest. A platform without a committed snapshot skips this part with a line
//!   on stderr; record one with `INSTA_UPDATE=always cargo test snapshot` and commit it.
//!
//! Any change to training numerics fails these tests until the new snapshots are reviewed
//! and accepted (`cargo insta review`, or re-record as above and read the diff).

use crate::common::{cli, golden_data};
use cifar_repro::manifest::Manifest;
use cifar_repro::metrics::Metrics;
use std::fmt::Write;
use std::path::Path;

const SNAPSHOTS: &str = "../../golden/snapshots";

fn train_fixed_run(out: &Path) -> Manifest {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot/run.toml");
    let output = cli(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        golden_data().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Manifest::read(out).unwrap()
}

/// What names the platform in the numerics snapshot's file name.
fn platform_key(manifest: &Manifest) -> String {
    format!(
        "{}-{}-{}-t{}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        manifest.runtime.cpu_capability.to_lowercase(),
        manifest.determinism.threads
    )
}

fn streams(manifest: &Manifest) -> String {
    let mut text = format!("root seed {}\n", manifest.seeds.root);
    for stream in &manifest.seeds.streams {
        writeln!(text, "stream {stream}").unwrap();
    }
    for epoch in &manifest.epochs {
        writeln!(
            text,
            "epoch {}: steps {}, order {}, augment {}",
            epoch.epoch, epoch.steps, epoch.order_sha256, epoch.augment_sha256
        )
        .unwrap();
    }
    text
}

fn metrics(text: &mut String, split: &str, m: &Metrics) {
    writeln!(
        text,
        "{split}: count {}, accuracy {:?} (95% {:?}), loss {:?}",
        m.count, m.accuracy, m.accuracy_ci95, m.loss
    )
    .unwrap();
    writeln!(
        text,
        "  macro precision {:?}, recall {:?}, F1 {:?}",
        m.macro_precision, m.macro_recall, m.macro_f1
    )
    .unwrap();
    writeln!(text, "  per-class accuracy {:?}", m.per_class_accuracy).unwrap();
    for row in &m.confusion {
        writeln!(text, "  {row:?}").unwrap();
    }
}

fn numerics(manifest: &Manifest) -> String {
    let mut text = String::new();
    for epoch in &manifest.epochs {
        writeln!(
            text,
            "epoch {}: lr {:?}, weights {}",
            epoch.epoch, epoch.lr, epoch.weights_sha256
        )
        .unwrap();
        for point in &epoch.trace {
            writeln!(
                text,
                "  step {}: loss {:?}, weights {}",
                point.step, point.loss, point.weights_digest
            )
            .unwrap();
        }
        metrics(&mut text, "  train", &epoch.train);
        metrics(&mut text, "  test", &epoch.test);
    }
    text
}

/// Whether insta was asked to write snapshots (so a missing one gets recorded, not skipped).
fn recording() -> bool {
    matches!(
        std::env::var("INSTA_UPDATE").as_deref(),
        Ok("always" | "new")
    )
}

#[test]
fn snapshot_of_the_fixed_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = train_fixed_run(&dir.path().join("run"));
    insta::with_settings!({ snapshot_path => SNAPSHOTS, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("streams", streams(&manifest));
    });

    let platform = platform_key(&manifest);
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden/snapshots")
        .join(format!("numerics@{platform}.snap"));
    if !file.is_file() && !recording() {
        eprintln!(
            "no golden numerics snapshot for platform {platform}: skipped (record one with \
             INSTA_UPDATE=always cargo test snapshot)"
        );
        return;
    }
    insta::with_settings!({
        snapshot_path => SNAPSHOTS,
        prepend_module_to_snapshot => false,
        snapshot_suffix => platform,
    }, {
        insta::assert_snapshot!("numerics", numerics(&manifest));
    });
}
