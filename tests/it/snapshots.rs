//! Golden checks of one small fixed run (`tests/fixtures/snapshot/run.toml`), trained in a
//! child process. Three kinds of numbers live in a run, and each is checked as tightly as
//! it can be everywhere:
//! - `streams` (insta, bit-exact on every machine): the seed tree's consumers, the data
//!   order and the augmentation parameters of every epoch. cifar-repro's own integer code.
//! - `numerics@CLASS` (insta, bit-exact within a numerics class): the weights hash after
//!   each epoch, the traced losses, every metric and both confusion matrices. The class is
//!   the digest of a kernel probe (`cifar-repro env` prints it): two machines of one class
//!   round alike. A class with no committed snapshot skips this half with a line naming
//!   the class and the command that records it.
//! - golden metrics (within a tolerance, on every class): the final test accuracy, loss
//!   and macro F1 against the classes measured so far (`golden/metrics/`).
//!
//! Any change to training numerics fails the bit-exact halves until the new snapshots are
//! reviewed and accepted (`cargo insta review`, or re-record as below and read the diff).

use crate::common::{cli_command, golden_data};
use cifar_repro::manifest::Manifest;
use cifar_repro::metrics::Metrics;
use cifar_repro::metrics::stats::student_t_quantile;
use std::fmt::Write;
use std::path::Path;
use std::sync::OnceLock;

const SNAPSHOTS: &str = "../../golden/snapshots";

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot/run.toml")
}

/// Trains `config` into `out` (replacing it) with extra environment `vars`.
fn train(config: &Path, out: &Path, vars: &[(&str, &str)]) -> Manifest {
    let mut command = cli_command(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data",
        golden_data().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ]);
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    cifar_repro::run_dir::RunDir::open(out).manifest().unwrap()
}

fn train_fixed_run(out: &Path, vars: &[(&str, &str)]) -> Manifest {
    train(&fixture(), out, vars)
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

/// The command that records the numerics snapshot of this machine's class.
const RECORD: &str = "INSTA_UPDATE=always cargo test --test it snapshots::numerics";

/// The committed numerics snapshot of class `name`, or the line that says why the
/// bit-exact half is skipped.
fn numerics_snapshot(name: &str) -> Result<String, String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden/snapshots")
        .join(format!("numerics@{name}.snap"));
    if file.is_file() || recording() {
        return Ok(name.to_owned());
    }
    Err(format!(
        "numerics class {name} has no golden snapshot: bit-exact half skipped (the \
         streams and the golden metrics are still checked); record it with `{RECORD}` \
         and commit golden/snapshots/numerics@{name}.snap"
    ))
}

/// Fails when the class table recorded this CPU at this thread count natively under
/// another class: then the probe or the kernels changed, and skipping would hide it.
fn assert_no_recorded_class_moved(manifest: &Manifest) {
    let class = manifest
        .numerics
        .as_ref()
        .expect("a new run records its class");
    let cpu = format!("{} ({})", class.cpu_model, class.cpu_vendor);
    let native = format!("native, {} thread(s)", class.threads);
    let moved: Vec<String> = measured_classes()
        .into_iter()
        .filter(|c| c.cpu == cpu && c.reached_with == native && c.name != class.name)
        .map(|c| c.name)
        .collect();
    assert!(
        moved.is_empty(),
        "this CPU ({cpu}, {native}) was recorded as numerics class {moved:?} but now \
         measures {}: the probe or the kernels changed. Re-record with `{RECORD}` and \
         ci/measure-numerics-classes.sh",
        class.name
    );
}

/// The fixed run, trained once per test process and shared by the tests below.
fn fixed_run() -> &'static Manifest {
    static RUN: OnceLock<Manifest> = OnceLock::new();
    RUN.get_or_init(|| {
        train_fixed_run(
            &Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixed-run"),
            &[],
        )
    })
}

#[test]
fn streams_are_bit_exact_on_every_machine() {
    insta::with_settings!({ snapshot_path => SNAPSHOTS, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("streams", streams(fixed_run()));
    });
}

#[test]
fn numerics_are_bit_exact_within_their_class() {
    let manifest = fixed_run();
    let class = match numerics_snapshot(&manifest.numerics.as_ref().unwrap().name) {
        Ok(class) => class,
        Err(skip) => {
            assert_no_recorded_class_moved(manifest);
            eprintln!("{skip}");
            return;
        }
    };
    insta::with_settings!({
        snapshot_path => SNAPSHOTS,
        prepend_module_to_snapshot => false,
        snapshot_suffix => class,
    }, {
        insta::assert_snapshot!("numerics", numerics(manifest));
    });
}

/// One measured class of `golden/metrics/fixed-run-classes.toml`.
#[derive(serde::Deserialize)]
struct MeasuredClass {
    name: String,
    cpu: String,
    reached_with: String,
    accuracy: f64,
    loss: f64,
    macro_f1: f64,
}

#[derive(serde::Deserialize)]
struct MeasuredClasses {
    class: Vec<MeasuredClass>,
}

/// Every class in `golden/metrics/fixed-run-classes.toml`.
fn measured_classes() -> Vec<MeasuredClass> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/metrics/fixed-run-classes.toml");
    toml::from_str::<MeasuredClasses>(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .class
}

/// For each golden metric: (name, this run's value, the 99% prediction interval for one
/// more class from the measured ones).
fn golden_metric_bands(final_test: &Metrics) -> Vec<(&'static str, f64, [f64; 2])> {
    let mut classes = measured_classes();
    classes.sort_by(|a, b| a.name.cmp(&b.name));
    classes.dedup_by(|a, b| a.name == b.name);
    let n = classes.len() as f64;
    assert!(n >= 3.0, "need at least 3 measured classes, have {n}");
    let t = student_t_quantile(0.995, n - 1.0);
    let band = |value: fn(&MeasuredClass) -> f64| {
        let mean = classes.iter().map(value).sum::<f64>() / n;
        let var = classes
            .iter()
            .map(|c| (value(c) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        let half = t * var.sqrt() * (1.0 + 1.0 / n).sqrt();
        [mean - half, mean + half]
    };
    vec![
        ("accuracy", final_test.accuracy, band(|c| c.accuracy)),
        ("loss", final_test.loss, band(|c| c.loss)),
        ("macro F1", final_test.macro_f1, band(|c| c.macro_f1)),
    ]
}

/// The golden metrics that fall outside their band, one line each.
fn golden_metric_failures(manifest: &Manifest) -> Vec<String> {
    let final_test = manifest.final_test.as_ref().expect("a completed run");
    golden_metric_bands(final_test)
        .into_iter()
        .filter(|(_, value, [lo, hi])| !(lo..=hi).contains(&value))
        .map(|(name, value, [lo, hi])| {
            format!("final test {name} {value} is outside {lo:.4}..{hi:.4}")
        })
        .collect()
}

#[test]
fn golden_metrics_hold_on_every_class() {
    let failures = golden_metric_failures(fixed_run());
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn an_unrecorded_class_skips_only_the_bit_exact_half() {
    let dir = tempfile::tempdir().unwrap();
    let fake = "0000feedface0000";
    let manifest = train_fixed_run(
        &dir.path().join("run"),
        &[(
            cifar_repro::determinism::numerics::DIGEST_OVERRIDE_ENV,
            fake,
        )],
    );
    let class = manifest.numerics.as_ref().unwrap().name.clone();
    assert!(class.ends_with("-0000feedface"), "{class}");
    let skip = numerics_snapshot(&class).unwrap_err();
    assert!(skip.contains(&class) && skip.contains(RECORD), "{skip}");
    assert_eq!(streams(&manifest), streams(fixed_run()));
    assert!(golden_metric_failures(&manifest).is_empty());
}

#[test]
fn a_clearly_worse_recipe_fails_the_golden_metrics() {
    // The learning rate 10x too low: the run stays near chance, which the bands must see.
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(fixture())
        .unwrap()
        .replace("lr = 0.002", "lr = 0.0002");
    let path = dir.path().join("slow.toml");
    std::fs::write(&path, config).unwrap();
    let manifest = train(&path, &dir.path().join("run"), &[]);
    let failures = golden_metric_failures(&manifest);
    assert!(failures.len() >= 2, "{failures:#?}");
}
