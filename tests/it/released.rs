//! A released checkpoint as a claim (`checkpoint = "FILE"`) and as `eval --checkpoint`:
//! a torch.save state dict of torchvision's ResNet-18 (CIFAR stem, width 8) and the same
//! model as TorchScript, both made by tests/fixtures/checkpoints/generate.py, give the
//! accuracy torch computed for them, judged by the test set's binomial interval.

use crate::common::cli;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/checkpoints")
        .join(name)
}

/// torch's own accuracy of the fixture model on the vendored test images.
fn torch_accuracy() -> f64 {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["accuracy"]
        .as_f64()
        .unwrap()
}

fn claims(value: f64, metric: &str) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/data");
    format!(
        r#"seed = 0
margin = 0.1

[[claim]]
id = "state-dict"
sentence = "The released model reaches this accuracy."
run = "quickstart"
overrides = {{ model = {{ width = 8 }}, data = {data:?} }}
checkpoint = {pth:?}
metric = "{metric}"
value = {value}

[[claim]]
id = "torchscript"
sentence = "The same model, scripted."
run = "quickstart"
overrides = {{ data = {data:?} }}
checkpoint = {jit:?}
metric = "{metric}"
value = {value}
"#,
        data = data.display().to_string(),
        pth = fixture("resnet18-cifar-w8.pth").display().to_string(),
        jit = fixture("resnet18-cifar-w8.jit.pt").display().to_string(),
    )
}

fn audit(dir: &Path, text: &str) -> (Option<i32>, Value) {
    let path = dir.join("claims.toml");
    std::fs::write(&path, text).unwrap();
    let out = dir.join("audit");
    let output = cli(&[
        "audit",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let json = std::fs::read_to_string(out.join("audit.json")).unwrap();
    (output.status.code(), serde_json::from_str(&json).unwrap())
}

#[test]
fn a_released_checkpoint_gives_torch_s_accuracy_judged_over_the_test_images() {
    let dir = tempfile::tempdir().unwrap();
    let expected = torch_accuracy();
    let (code, json) = audit(dir.path(), &claims(expected, "accuracy"));
    assert_eq!(code, Some(0), "{json}");
    for claim in json["claims"].as_array().unwrap() {
        assert_eq!(claim["verdict"], "REPRODUCED", "{claim}");
        assert_eq!(claim["values"][0].as_f64(), Some(expected), "{claim}");
        let why = claim["why"].as_str().unwrap();
        assert!(why.contains("over its 300 test images (binomial"), "{why}");
        assert!(claim["notes"].to_string().contains("not seeds"), "{claim}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = audit(dir.path(), &claims(expected + 0.3, "accuracy"));
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["claims"][0]["verdict"], "NOT_REPRODUCED", "{json}");
}

#[test]
fn a_checkpoint_claim_on_another_metric_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = audit(dir.path(), &claims(0.3, "macro_f1"));
    assert_eq!(code, Some(2), "{json}");
    let why = json["claims"][0]["why"].as_str().unwrap();
    assert!(why.contains("judges test accuracy"), "{why}");
}

#[test]
fn eval_checkpoint_prints_torch_s_accuracy_for_torchscript() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/data");
    let jit = fixture("resnet18-cifar-w8.jit.pt");
    let output = cli(&[
        "eval",
        "--checkpoint",
        jit.to_str().unwrap(),
        "--config",
        "quickstart",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!("test accuracy {:.4}", torch_accuracy());
    assert!(
        stdout.contains(&expected) && stdout.contains("TorchScript"),
        "{stdout}"
    );
}
