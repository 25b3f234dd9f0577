//! `train`, `eval` and `report` end to end on the vendored data (in child processes:
//! libtorch's generator and thread count are process-global), and their bad input.

use crate::common::{assert_one_line_error, cli, copy_golden, golden_data};
use std::path::Path;

/// A small, fast quickstart: 256 images, 2 epochs; `extra` flags replace these defaults.
fn train(out: &Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let defaults = [
        ("--config", "quickstart"),
        ("--data", data.to_str().unwrap()),
        ("--out", out.to_str().unwrap()),
        ("--epochs", "2"),
        ("--train-limit", "256"),
        ("--batch-size", "32"),
        ("--threads", "1"),
    ];
    let mut args = vec!["train"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    cli(&args)
}

#[test]
fn a_run_writes_its_folder_and_eval_reproduces_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = train(&run, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "config.toml",
        "manifest.json",
        "metrics.jsonl",
        "report.html",
        "curves.svg",
        "confusion.svg",
        "misclassified.png",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "completed");
    assert_eq!(manifest["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(manifest["data"]["train_used"], 256);
    assert_eq!(manifest["runtime"]["libtorch_version"], "2.11.0");
    let epoch = &manifest["epochs"][1];
    assert_eq!(epoch["steps"], 8);
    assert_eq!(epoch["weights_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(epoch["test"]["count"], 300);
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("data:image/png;base64,")
            && html.contains("Confusion matrix")
    );

    let eval = cli(&["eval", "--run", run.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        eval.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert!(
        stdout.contains("matches the run's recorded final test metrics"),
        "{stdout}"
    );

    std::fs::remove_file(run.join("report.html")).unwrap();
    assert!(
        cli(&["report", "--run", run.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read_to_string(run.join("report.html")).unwrap(),
        html
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_order() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect();
    for (run, seed) in runs.iter().zip(["1", "1", "2"]) {
        let out = train(run, &["--seed", seed, "--epochs", "1"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let epoch = |run: &Path| {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
        m["epochs"][0].clone()
    };
    let (a, b, c) = (epoch(&runs[0]), epoch(&runs[1]), epoch(&runs[2]));
    for key in ["order_sha256", "augment_sha256", "weights_sha256"] {
        assert_eq!(
            a[key], b[key],
            "{key} differs between two runs with one seed"
        );
        assert_ne!(a[key], c[key], "{key} equal for two seeds");
    }
}

#[test]
fn unknown_preset() {
    assert_one_line_error(
        &cli(&["train", "--config", "e7-nope"]),
        &["unknown preset \"e7-nope\"", "quickstart"],
    );
}

#[test]
fn unknown_config_key_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let text = String::from_utf8(printed.stdout)
        .unwrap()
        .replace("[loop]\n", "[loop]\nepohcs = 3\n");
    let config = dir.path().join("typo.toml");
    std::fs::write(&config, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("epohcs")).unwrap() + 1;
    let out = cli(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["typo.toml", "epohcs", &format!("line {line}")]);
}

#[test]
fn data_without_the_test_batch() {
    let dir = tempfile::tempdir().unwrap();
    let folder = copy_golden(dir.path());
    std::fs::remove_file(folder.join("test_batch.bin")).unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let out = train(&dir.path().join("run"), &["--data", &data]);
    assert_one_line_error(&out, &["test_batch.bin", "missing"]);
}

#[test]
fn pretrained_file_with_wrong_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/resnet18-w8.pth");
    let text = String::from_utf8(printed.stdout).unwrap().replace(
        "freeze = \"none\"\n",
        &format!(
            "freeze = \"none\"\npretrained = {:?}\n",
            weights.to_str().unwrap()
        ),
    );
    let config = dir.path().join("pre.toml");
    std::fs::write(&config, text).unwrap();
    let out = cli(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &[
            "resnet18-w8.pth",
            "tensor \"bn1.bias\" has shape [8]",
            "the model needs [16]",
        ],
    );
}

#[test]
fn cuda_without_cuda() {
    if tch::Cuda::is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &train(&dir.path().join("r"), &["--device", "cuda"]),
        &["--device cuda", "no CUDA device"],
    );
}

#[test]
fn unwritable_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert_one_line_error(
        &train(&file.join("run"), &[]),
        &["cannot create the run folder"],
    );
}

#[test]
fn existing_non_empty_out_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), b"keep me").unwrap();
    assert_one_line_error(
        &train(dir.path(), &[]),
        &["exists and is not empty", "--overwrite"],
    );
    assert_one_line_error(
        &train(dir.path(), &["--overwrite"]),
        &["not a cifar-repro run folder"],
    );
    assert_eq!(
        std::fs::read(dir.path().join("precious.txt")).unwrap(),
        b"keep me"
    );
}

#[test]
fn too_many_threads_are_refused_at_once_even_under_a_process_limit() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -u 400 && exec {} train --config quickstart --threads 99999 --out {}",
            env!("CARGO_BIN_EXE_cifar-repro"),
            dir.path().join("run").display()
        ))
        .output()
        .unwrap();
    assert!(started.elapsed().as_secs() < 10);
    assert_one_line_error(&output, &["loop.threads = 99999", "allowed 0..="]);
}

/// The fixed snapshot run with `edit` applied to its config.
fn edited_config(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot/run.toml");
    let path = dir.join("edited.toml");
    std::fs::write(&path, edit(std::fs::read_to_string(fixture).unwrap())).unwrap();
    path
}

#[test]
fn an_absurd_width_is_one_line_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = edited_config(dir.path(), |t| t.replace("width = 8", "width = 100000"));
    let out = train(
        &dir.path().join("run"),
        &["--config", config.to_str().unwrap()],
    );
    assert_one_line_error(&out, &["model.width = 100000", "allowed 1..=1024"]);
}

#[test]
fn a_run_too_big_for_the_machine_is_refused_with_its_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let config = edited_config(dir.path(), |t| {
        t.replace("width = 8", "width = 1024")
            .replace("batch_size = 64", "batch_size = 65536")
            .replace("train_limit = 1024", "train_limit = 65536")
    });
    let out = train(
        &dir.path().join("run"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--batch-size",
            "65536",
            "--train-limit",
            "65536",
        ],
    );
    assert_one_line_error(
        &out,
        &[
            "GiB at its peak, a training step of batch 65536",
            "available",
            "lower model.width",
        ],
    );
}

#[test]
fn out_of_range_values_name_their_key_and_range() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, needle) in [
        ("lr = 0.002", "lr = -1.0", "optim.lr = -1"),
        ("eps = 0.00000001", "eps = 0.0", "optim.eps = 0"),
        ("trace_every = 4", "trace_every = 0", "loop.trace_every = 0"),
        ("classes = 10", "classes = 3", "model.classes = 3"),
        (
            "warmup_epochs = 0.5",
            "warmup_epochs = 99.0",
            "schedule.warmup_epochs = 99",
        ),
        (
            "betas = [0.9, 0.999]",
            "betas = [1.5, 0.999]",
            "optim.betas[0] = 1.5",
        ),
    ] {
        let config = edited_config(dir.path(), |t| t.replace(from, to));
        let out = train(
            &dir.path().join("run"),
            &["--config", config.to_str().unwrap()],
        );
        assert_one_line_error(&out, &[needle, "out of range"]);
    }
}

#[test]
fn record_steps_writes_what_a_pytorch_replay_needs() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = train(&run, &["--record-steps", "3", "--epochs", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay = run.join("replay");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(replay.join("replay.json")).unwrap())
            .unwrap();
    assert_eq!(record["steps"], 3);
    assert_eq!(record["lrs"].as_array().unwrap().len(), 3);
    assert_eq!(record["optim"]["name"], "adam");
    let step = tch::Tensor::read_safetensors(replay.join("step-00003.safetensors")).unwrap();
    let images = &step.iter().find(|(n, _)| n == "images").unwrap().1;
    assert_eq!(
        (images.size(), images.kind()),
        (vec![32, 3, 32, 32], tch::Kind::Float)
    );
    assert!(!replay.join("step-00004.safetensors").exists());
    let init = tch::Tensor::read_safetensors(replay.join("init.safetensors")).unwrap();
    let after = tch::Tensor::read_safetensors(replay.join("after.safetensors")).unwrap();
    assert_eq!(init.len(), after.len());
    let weight = |set: &[(String, tch::Tensor)]| {
        set.iter().find(|(n, _)| n == "fc.weight").unwrap().1.copy()
    };
    assert!(
        !weight(&init).equal(&weight(&after)),
        "three steps change the head"
    );
    // The manifest names the seed the initial weights came from.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["seeds"]["init_torch_seed"].is_i64());
}
