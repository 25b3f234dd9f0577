//! Two-stage runs (`init_from`) in training and in the audit, rehearsals, and claims of
//! reproducibility, all in child processes on tiny runs of the vendored data.

use crate::common::{assert_one_line_error, cli, golden_data};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The quickstart config cut to one epoch of 3 steps, 1 thread; `extra` is added at the top.
fn tiny_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let text = String::from_utf8(printed.stdout)
        .unwrap()
        .replace("epochs = 6", "epochs = 1")
        .replace("batch_size = 64", "batch_size = 32\ntrain_limit = 96")
        .replace("threads = 0", "threads = 1");
    let path = dir.join(name);
    std::fs::write(&path, format!("{extra}{text}")).unwrap();
    path
}

fn manifest(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

fn audit_json(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("audit.json")).unwrap()).unwrap()
}

fn claim<'a>(audit: &'a Value, id: &str) -> &'a Value {
    audit["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no claim {id}"))
}

fn audit(claims: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let mut args = vec!["audit", claims.to_str().unwrap(), "--seeds", "2"];
    args.extend([
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cli(&args)
}

fn claim_file(dir: &Path, claims: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("seed = 11\nmargin = 0.5\n");
    for (id, run) in claims {
        text.push_str(&format!(
            "[[claim]]\nid = \"{id}\"\nsentence = \"s\"\nrun = \"{run}\"\nmetric = \"accuracy\"\nvalue = 0.1\n\n"
        ));
    }
    let path = dir.join("claims.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn seed_s_of_a_two_stage_run_starts_from_seed_s_of_its_first_stage() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path(), "first.toml", "");
    tiny_config(
        dir.path(),
        "second.toml",
        "init_from = { run = \"first.toml\" }\n",
    );
    let claims = claim_file(
        dir.path(),
        &[("second", "second.toml"), ("first", "first.toml")],
    );
    let out = dir.path().join("audit");
    let done = audit(&claims, &out, &[]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let result = audit_json(&out);
    let seconds = claim(&result, "second")["runs"].as_array().unwrap().clone();
    let firsts = claim(&result, "first")["runs"].as_array().unwrap().clone();
    assert_eq!((seconds.len(), firsts.len()), (2, 2));
    for (second, first) in seconds.iter().zip(&firsts) {
        let (second, first) = (
            manifest(&out.join(second.as_str().unwrap())),
            manifest(&out.join(first.as_str().unwrap())),
        );
        assert_eq!(
            second["config"]["loop"]["seed"],
            first["config"]["loop"]["seed"]
        );
        let final_weights =
            first["epochs"].as_array().unwrap().last().unwrap()["weights_sha256"].clone();
        assert_eq!(
            second["initial_weights_sha256"], final_weights,
            "seed's start"
        );
        assert_eq!(second["init_from"]["final_weights_sha256"], final_weights);
        assert_ne!(
            first["initial_weights_sha256"], final_weights,
            "the first stage trained"
        );
    }
    let plan = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--seeds",
        "2",
        "--data",
        golden_data().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plan",
    ]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("4 distinct runs") && text.contains("4 finished"),
        "{text}"
    );
    let starts = firsts[0].as_str().unwrap();
    assert!(
        text.lines().any(|l| l.contains(starts)
            && l.trim_start().starts_with("runs/")
            && l.matches("runs/").count() == 2),
        "{text}"
    );
}

#[test]
fn train_names_the_prerequisite_a_two_stage_config_needs_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = tiny_config(dir.path(), "first.toml", "");
    let second = tiny_config(
        dir.path(),
        "second.toml",
        "init_from = { run = \"first.toml\" }\n",
    );
    let data = golden_data();
    let train = |config: &Path, out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args = vec![
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(["--data", data.to_str().unwrap()]);
        args.extend_from_slice(extra);
        (cli(&args), out)
    };
    let (alone, out) = train(&second, "alone", &["--seed", "1"]);
    assert_one_line_error(&alone, &["first.toml", "--seed 1", "--init-from RUN_DIR"]);
    assert!(!out.exists(), "a refused run left its folder");
    let (first_run, first_dir) = train(&first, "first", &["--seed", "1"]);
    assert!(first_run.status.success());
    let (wrong, out) = train(
        &second,
        "wrong",
        &["--seed", "2", "--init-from", first_dir.to_str().unwrap()],
    );
    assert_one_line_error(&wrong, &["not a run of first.toml with seed 2", "seed = 1"]);
    assert!(!out.exists());
    let (not_chained, _) = train(&first, "x", &["--init-from", first_dir.to_str().unwrap()]);
    assert_one_line_error(&not_chained, &["--init-from", "no init_from"]);
    let (right, out) = train(
        &second,
        "right",
        &["--seed", "1", "--init-from", first_dir.to_str().unwrap()],
    );
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let final_weights = manifest(&first_dir)["epochs"][0]["weights_sha256"].clone();
    assert_eq!(manifest(&out)["initial_weights_sha256"], final_weights);
    let e6 = cli(&[
        "train",
        "--config",
        "e6-two-stage",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_one_line_error(&e6, &["e3-frozen", "--init-from RUN_DIR"]);
}

/// A resnet18 (width 64, 1000-class head) weights file with `conv1.weight` renamed.
fn damaged_stand_in(path: &Path) {
    use cifar_repro::model::{Arch, Freeze, Model, ModelConfig, Pool, Stem};
    let config = ModelConfig {
        arch: Arch::Resnet18,
        stem: Stem::Imagenet,
        width: 64,
        classes: 1000,
        freeze: Freeze::None,
        pretrained: None,
        pool: Pool::Mean,
    };
    let model = Model::new(&config, tch::Device::Cpu, 1).unwrap();
    let tensors: Vec<(String, tch::Tensor)> = model
        .vs
        .variables()
        .into_iter()
        .map(|(n, t)| {
            (
                if n == "conv1.weight" {
                    "conv1.weigth".into()
                } else {
                    n
                },
                t,
            )
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    tch::Tensor::write_safetensors(&tensors, path).unwrap();
}

#[test]
fn a_rehearsal_fails_the_claims_behind_a_broken_link_and_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let pretrained = "[model]\narch = \"resnet18\"\nstem = \"imagenet\"\nwidth = 64\nclasses = 10\nfreeze = \"backbone\"\npretrained = \"weights/absent.pth\"\n";
    let pre = tiny_config(dir.path(), "pre.toml", "");
    let text = std::fs::read_to_string(&pre).unwrap();
    let start = text.find("[model]").unwrap();
    let end = start + text[start..].find("\n[").unwrap() + 1;
    std::fs::write(
        &pre,
        format!("{}{pretrained}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    let pre_text = std::fs::read_to_string(&pre).unwrap();
    std::fs::write(
        dir.path().join("after.toml"),
        format!("init_from = {{ run = \"pre.toml\" }}\n{pre_text}").replace(
            "freeze = \"backbone\"\npretrained = \"weights/absent.pth\"\n",
            "freeze = \"none\"\n",
        ),
    )
    .unwrap();
    tiny_config(dir.path(), "plain.toml", "");
    let claims = claim_file(
        dir.path(),
        &[
            ("pre", "pre.toml"),
            ("after", "after.toml"),
            ("plain", "plain.toml"),
        ],
    );

    let fine = dir.path().join("fine");
    let out = audit(&claims, &fine, &["--rehearse"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = audit_json(&fine);
    for id in ["pre", "after", "plain"] {
        assert_eq!(
            claim(&result, id)["verdict"],
            "REHEARSED",
            "{id}: {}",
            claim(&result, id)
        );
    }
    let notes = claim(&result, "pre")["notes"].to_string();
    assert!(notes.contains("STAND-IN weights"), "{notes}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("the real audit at full scale"));

    let broken = dir.path().join("broken");
    damaged_stand_in(&broken.join("stand-ins/resnet18-stand-in.safetensors"));
    let out = audit(&claims, &broken, &["--rehearse"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = audit_json(&broken);
    let why = |id: &str| claim(&result, id)["why"].as_str().unwrap().to_owned();
    assert_eq!(claim(&result, "pre")["verdict"], "FAILED");
    assert!(
        why("pre").contains("training runs/") && why("pre").contains("\"conv1.weight\""),
        "{}",
        why("pre")
    );
    assert_eq!(claim(&result, "after")["verdict"], "FAILED");
    assert!(
        why("after").contains("its prerequisite failed") && why("after").contains("conv1.weight"),
        "{}",
        why("after")
    );
    assert_eq!(claim(&result, "plain")["verdict"], "REHEARSED");
}

#[test]
fn a_chain_that_comes_back_to_a_run_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path(), "a.toml", "init_from = { run = \"b.toml\" }\n");
    tiny_config(dir.path(), "b.toml", "init_from = { run = \"a.toml\" }\n");
    let claims = claim_file(dir.path(), &[("cycle", "a.toml")]);
    let out = dir.path().join("audit");
    audit(&claims, &out, &[]);
    let result = audit_json(&out);
    assert_eq!(claim(&result, "cycle")["verdict"], "NOT_RUN");
    let why = claim(&result, "cycle")["why"].as_str().unwrap();
    assert!(
        why.contains("a -> b.toml -> a.toml") && why.contains("comes back"),
        "{why}"
    );
}

#[test]
fn shards_train_whole_chains_and_merge_to_the_unsharded_audit() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path(), "first.toml", "");
    tiny_config(
        dir.path(),
        "second.toml",
        "init_from = { run = \"first.toml\" }\n",
    );
    let other = tiny_config(dir.path(), "other.toml", "");
    let text = std::fs::read_to_string(&other).unwrap();
    std::fs::write(&other, text.replace("lr = 0.002", "lr = 0.001")).unwrap();
    let claims = claim_file(
        dir.path(),
        &[("second", "second.toml"), ("other", "other.toml")],
    );
    let whole = dir.path().join("whole");
    assert!(audit(&claims, &whole, &[]).status.success());
    let shard = |i: usize| {
        let out = dir.path().join(format!("shard{i}"));
        let done = audit(&claims, &out, &["--shard", &format!("{i}/2")]);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        out
    };
    let shards = [shard(0), shard(1)];
    for out in &shards {
        // Each chain's runs together: a shard never waits for another's prerequisite.
        for entry in std::fs::read_dir(out.join("runs")).unwrap() {
            let run = entry.unwrap().path();
            if let Some(from) = manifest(&run)["init_from"]["run"].as_str() {
                assert!(
                    Path::new(from).starts_with(out),
                    "{from} is not in {}",
                    out.display()
                );
            }
        }
    }
    let merged = dir.path().join("merged");
    let out = cli(&[
        "audit",
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["audit.json", "audit.md"] {
        assert_eq!(
            std::fs::read_to_string(merged.join(file)).unwrap(),
            std::fs::read_to_string(whole.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_reproducibility_claim_compares_two_runs_of_one_seed() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path(), "run.toml", "");
    let claims = dir.path().join("claims.toml");
    std::fs::write(&claims, "seed = 4\nmargin = 0.1\n[[claim]]\nid = \"same\"\nsentence = \"a fixed seed reproduces\"\nrun = \"run.toml\"\nreproducible = true\ninterpretations = { \"model.pool\" = [\"mean\", \"adaptive\"] }\n").unwrap();
    let out = dir.path().join("audit");
    let done = audit(&claims, &out, &[]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let result = audit_json(&out);
    for reading in ["mean", "adaptive"] {
        let c = claim(&result, &format!("same [model.pool={reading}]"));
        assert_eq!(c["verdict"], "REPRODUCED", "{c}");
        assert!(c["why"].as_str().unwrap().contains("bit-identical"));
        assert!(c.get("level").is_none(), "a byte comparison has no level");
    }
    // Mean and adaptive pooling train the same weights (ATen's 1x1 adaptive average is a mean).
    let runs =
        |reading: &str| claim(&result, &format!("same [model.pool={reading}]"))["runs"].clone();
    let (mean, adaptive) = (runs("mean"), runs("adaptive"));
    let weights = |r: &Value| {
        manifest(&out.join(r[0].as_str().unwrap()))["epochs"][0]["weights_sha256"].clone()
    };
    assert_eq!(weights(&mean), weights(&adaptive));

    // The second run replaced by one of the same config whose weights were nudged.
    let twin = out.join(mean[1].as_str().unwrap());
    std::fs::remove_dir_all(&twin).unwrap();
    let config = out.join(mean[0].as_str().unwrap()).join("config.toml");
    let nudged = crate::common::cli_command(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        twin.to_str().unwrap(),
    ])
    .env("CIFAR_REPRO_NUDGE_AFTER_STEP", "2")
    .output()
    .unwrap();
    assert!(nudged.status.success());
    let again = audit(&claims, &out, &[]);
    assert_eq!(again.status.code(), Some(1));
    let result = audit_json(&out);
    let c = claim(&result, "same [model.pool=mean]");
    assert_eq!(c["verdict"], "NOT_REPRODUCED", "{c}");
    assert!(
        c["why"].as_str().unwrap().contains("epoch 1")
            && c["why"].as_str().unwrap().contains("weights differ"),
        "{c}"
    );
}

#[test]
fn a_claim_needing_more_device_memory_than_there_is_is_not_run_and_a_rehearsal_waives_it() {
    let dir = tempfile::tempdir().unwrap();
    tiny_config(dir.path(), "run.toml", "");
    let claims = dir.path().join("claims.toml");
    std::fs::write(&claims, "seed = 4\nmargin = 0.5\n[[claim]]\nid = \"big\"\nsentence = \"s\"\nrun = \"run.toml\"\nmetric = \"accuracy\"\nvalue = 0.1\nrequires = { min_memory_gb = 100000 }\n").unwrap();
    let out = dir.path().join("audit");
    audit(&claims, &out, &[]);
    let result = audit_json(&out);
    assert_eq!(claim(&result, "big")["verdict"], "NOT_RUN");
    let why = claim(&result, "big")["why"].as_str().unwrap();
    assert!(
        why.contains("needs 100000 GiB of memory on the training device; cpu has"),
        "{why}"
    );
    let rehearsal = dir.path().join("rehearsal");
    assert!(audit(&claims, &rehearsal, &["--rehearse"]).status.success());
    let result = audit_json(&rehearsal);
    assert_eq!(claim(&result, "big")["verdict"], "REHEARSED");
    assert!(
        claim(&result, "big")["notes"]
            .to_string()
            .contains("waived: needs 100000 GiB")
    );
}
