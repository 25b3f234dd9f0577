//! `cifar-repro variance`: each arm varies its own stream and no other (read from the
//! runs' manifests), the numerics poke multiplies exactly one weight by its factor, a
//! sharded study merges into the unsharded one byte for byte, `audit --variance` notes the
//! arms' sds, and bad input is refused before any folder is made.

use crate::common::{assert_one_line_error, cli, golden_data};
use cifar_repro::config::TrainConfig;
use cifar_repro::model::Model;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The quickstart config cut to one epoch of 3 steps on 1 thread, with Mixup so that every
/// arm has a stream to vary.
fn tiny_config(dir: &Path) -> PathBuf {
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let text = String::from_utf8(printed.stdout)
        .unwrap()
        .replace("epochs = 6", "epochs = 1")
        .replace("batch_size = 64", "batch_size = 32\ntrain_limit = 96")
        .replace("threads = 0", "threads = 1")
        .replace("[augment]", "[augment]\nmixup = { alpha = 0.2 }");
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn variance(run: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let mut args = vec!["variance", run.to_str().unwrap(), "--seeds", "2"];
    args.extend([
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cli(&args)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each fingerprint of a run's manifest that one source moves: the seed libtorch drew the
/// initial weights from (the init stream), the data order, the augmentation's draws, the
/// mix's, and the initial weights themselves (moved by init, and by a numerics poke).
fn fingerprints(manifest: &Value) -> [(&'static str, String); 5] {
    let epoch = &manifest["epochs"][0];
    [
        ("init", manifest["seeds"]["init_torch_seed"].to_string()),
        ("order", epoch["order_sha256"].to_string()),
        ("augment", epoch["draws_sha256"].to_string()),
        ("mix", epoch["mix_sha256"].to_string()),
        ("weights", manifest["initial_weights_sha256"].to_string()),
    ]
}

/// Which fingerprints differ between the two runs of an arm.
fn varied(out: &Path, arm: &Value) -> Vec<&'static str> {
    let runs: Vec<Value> = arm["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json(&out.join(r.as_str().unwrap()).join("manifest.json")))
        .collect();
    assert_eq!(runs.len(), 2);
    let (a, b) = (fingerprints(&runs[0]), fingerprints(&runs[1]));
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0)
        .collect()
}

#[test]
fn each_arm_varies_its_own_stream_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let out = dir.path().join("study");
    let done = variance(&config, &out, &[]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let study = json(&out.join("variance.json"));
    let arms = study["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["init", "order", "augment", "mix", "numerics", "all"]
    );
    for arm in arms {
        let name = arm["arm"].as_str().unwrap();
        let expected: Vec<&str> = match name {
            "init" => vec!["init", "weights"],
            "numerics" => vec!["weights"],
            "all" => vec!["init", "order", "augment", "mix", "weights"],
            own => vec![own],
        };
        assert_eq!(varied(&out, arm), expected, "arm {name}");
    }
    let numerics = arms.iter().find(|a| a["arm"] == "numerics").unwrap();
    let pokes: Vec<Value> = numerics["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json(&out.join(r.as_str().unwrap()).join("manifest.json"))["seeds"]["poke"].clone()
        })
        .collect();
    assert!(pokes.iter().all(|p| p["factor"] == 1.001), "{pokes:?}");
    assert_ne!(pokes[0], pokes[1], "each replicate pokes its own weight");
    for file in ["variance.md", "variance.html"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(
            text.contains("numerics") && text.contains("test accuracy"),
            "{file}"
        );
    }
}

#[test]
fn the_poke_multiplies_exactly_one_weight_by_its_factor() {
    let config = TrainConfig::preset("quickstart").unwrap();
    let fresh = || Model::new(&config.model, tch::Device::Cpu, 7).unwrap();
    let (before, after) = (fresh(), fresh());
    let poked = cifar_repro::train::poke(&after.trainable(), 3).unwrap();
    let mut changed = Vec::new();
    for ((name, a), (_, b)) in before.trainable().iter().zip(after.trainable()) {
        let (a, b) = (a.flatten(0, -1), b.flatten(0, -1));
        let a: Vec<f32> = Vec::try_from(&a).unwrap();
        let b: Vec<f32> = Vec::try_from(&b).unwrap();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x.to_bits() != y.to_bits() {
                changed.push((name.clone(), i as i64, *x, *y));
            }
        }
    }
    assert_eq!(changed.len(), 1, "{changed:?}");
    let (name, index, old, new) = changed[0].clone();
    assert_eq!((name, index), (poked.tensor, poked.index));
    assert_eq!(new, old * cifar_repro::train::POKE_FACTOR as f32);
    assert_ne!(new, old);
}

#[test]
fn a_sharded_study_merges_into_the_unsharded_one_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let sources = ["--sources", "init,all"];
    let whole = dir.path().join("whole");
    assert!(variance(&config, &whole, &sources).status.success());
    let shard = |i: usize| {
        let out = dir.path().join(format!("shard{i}"));
        let part = format!("{i}/2");
        let done = variance(&config, &out, &[&sources[..], &["--shard", &part]].concat());
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        out
    };
    let (a, b) = (shard(0), shard(1));
    let merged = dir.path().join("merged");
    let args = [
        "variance",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ];
    let done = cli(&args);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for file in ["variance.json", "variance.md", "variance.html"] {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(merged.join(file)).unwrap(),
            "{file}"
        );
    }
    let refused = cli(&[
        "audit",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_one_line_error(&refused, &["variance study", "variance merge"]);
}

#[test]
fn audit_variance_notes_the_arm_sds_beside_each_verdict() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path());
    let claims = dir.path().join("claims.toml");
    std::fs::write(
        &claims,
        "seed = 3\nmargin = 0.5\n[[claim]]\nid = \"acc\"\nsentence = \"s\"\nrun = \"tiny.toml\"\nmetric = \"accuracy\"\nvalue = 0.1\n",
    )
    .unwrap();
    let out = dir.path().join("audit");
    let data = golden_data();
    let args = [
        "audit",
        claims.to_str().unwrap(),
        "--seeds",
        "2",
        "--variance",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let done = cli(&args);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let audit = json(&out.join("audit.json"));
    let notes = audit["claims"][0]["notes"].to_string();
    assert!(
        notes.contains(
            "variance by source of tiny.toml (2 runs per arm), sd of test accuracy: init "
        ),
        "{notes}"
    );
    assert!(notes.contains("all "), "{notes}");
    let studies: Vec<_> = std::fs::read_dir(out.join("variance")).unwrap().collect();
    assert_eq!(studies.len(), 1);
}

#[test]
fn bad_studies_are_refused_before_any_folder_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let out = dir.path().join("never");
    for (extra, needles) in [
        (
            vec!["--sources", "init,weather"],
            vec!["weather", "not a source"],
        ),
        (vec!["--epochs", "0"], vec!["--epochs", "0"]),
        (vec!["--alpha", "0.7"], vec!["--alpha", "0.7"]),
    ] {
        let done = variance(&config, &out, &extra);
        assert_usage_error(&done, &needles);
        assert!(!out.exists(), "{extra:?} made {}", out.display());
    }
    let one = cli(&[
        "variance",
        config.to_str().unwrap(),
        "--seeds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_usage_error(&one, &["--seeds", "1 is not in 2..=10000"]);
    let missing = cli(&[
        "variance",
        "no-such.toml",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(&missing, &["no-such.toml"]);
    assert!(!out.exists());
}

/// Asserts a command line refused by its parser, naming every one of `needles`.
fn assert_usage_error(output: &std::process::Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}
