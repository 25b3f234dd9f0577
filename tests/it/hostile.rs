//! What a user types, edits, kills or runs side by side: each input refused by name or
//! read whole, never a folder the tool cannot read, never data lost, never a hang. Each
//! test is named for the behaviour it guards.

use crate::common::{ALL_FILES, assert_one_line_error, cli, cli_command, golden_data, pack_tar_gz};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The quickstart config cut to 1 epoch of 3 steps, 1 thread, with `edits` applied.
fn config(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let mut text = String::from_utf8(printed.stdout)
        .unwrap()
        .replace("epochs = 6", "epochs = 1")
        .replace("batch_size = 64", "batch_size = 32\ntrain_limit = 96")
        .replace("threads = 0", "threads = 1");
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in the config");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn train(config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let mut args = vec!["train", "--config", config.to_str().unwrap()];
    args.extend([
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cli(&args)
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn manifest(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A claim file of one absolute accuracy claim on `run`, with `extra` lines in the claim.
fn claim_file(dir: &Path, run: &str, extra: &str) -> PathBuf {
    let path = dir.join("claims.toml");
    let text = format!(
        "seed = 2\nmargin = 0.5\n[[claim]]\nid = \"acc\"\nsentence = \"s\"\nrun = \"{run}\"\nmetric = \"accuracy\"\nvalue = 0.1\n{extra}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn audit(claims: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let mut args = vec!["audit", claims.to_str().unwrap()];
    if !extra.contains(&"--seeds") {
        args.extend(["--seeds", "1"]);
    }
    args.extend([
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    cli(&args)
}

#[test]
fn a_nan_loss_marks_the_run_diverged_and_every_command_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let wild = config(
        dir.path(),
        "wild.toml",
        &[
            ("name = \"adam\"", "name = \"sgd\""),
            ("lr = 0.002", "lr = 10.0"),
            ("epochs = 1", "epochs = 2"),
        ],
    );
    let run = dir.path().join("run");
    // The reliability issue's recipe: batch 64, 128 images, 2 epochs, SGD at 10.
    let out = train(&wild, &run, &["--train-limit", "128", "--batch-size", "64"]);
    assert!(!out.status.success(), "a diverged run exits non-zero");
    assert!(
        stderr(&out).contains("the run diverged at epoch"),
        "{}",
        stderr(&out)
    );
    let m = manifest(&run);
    assert_eq!(m["status"], "diverged");
    let loss = &m["diverged"]["loss"];
    assert!(loss == "NaN" || loss == "inf" || loss == "-inf", "{loss}");
    // Every command reads it.
    let (same, text) = crate::common::verify(&run, &run);
    assert!(same, "{text}");
    ok(&cli(&["report", "--run", run.to_str().unwrap()]));
    let eval = cli(&["eval", "--run", run.to_str().unwrap()]);
    assert!(
        !stderr(&eval).contains("not a cifar-repro manifest"),
        "{}",
        stderr(&eval)
    );
    let resume = cli(&["train", "--resume", run.to_str().unwrap()]);
    assert_one_line_error(&resume, &["diverged", "cannot be continued"]);
    // The audit counts it without retraining, even when two claims read it.
    std::fs::copy(&wild, dir.path().join("wild2.toml")).unwrap();
    let claims = dir.path().join("claims.toml");
    std::fs::write(&claims, "seed = 2\nmargin = 0.5\n[[claim]]\nid = \"a\"\nsentence = \"s\"\nrun = \"wild.toml\"\noverrides = { loop = { train_limit = 128, batch_size = 64 } }\nmetric = \"accuracy\"\nvalue = 0.1\n[[claim]]\nid = \"b\"\nsentence = \"s\"\nrun = \"wild.toml\"\noverrides = { loop = { train_limit = 128, batch_size = 64 } }\nmetric = \"loss\"\nvalue = 2.0\n").unwrap();
    let folder = dir.path().join("audit");
    let first = audit(&claims, &folder, &["--seeds", "2"]);
    assert_eq!(
        stderr(&first).matches(": training ").count(),
        2,
        "{}",
        stderr(&first)
    );
    let again = audit(&claims, &folder, &["--seeds", "2"]);
    assert_eq!(
        stderr(&again).matches(": training ").count(),
        0,
        "{}",
        stderr(&again)
    );
}

#[test]
fn too_many_threads_are_refused_before_any_is_started() {
    let out = cli(&["env", "--determinism", "strict", "--threads", "99999"]);
    assert_one_line_error(&out, &["99999", "out of range"]);
}

#[test]
fn results_are_read_as_csv_with_quoting_a_bom_and_duplicates_named() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), "quickstart", "");
    let csv = dir.path().join("r.csv");
    let mut text = String::from(
        "\u{feff}claim,seed,value\n\"acc\", \"1\", 0.11\n# a comment\nacc,\"two, quoted\",0.09\n",
    );
    for i in 3..50_000 {
        text.push_str(&format!("acc,{i},0.1{}\n", i % 7));
    }
    std::fs::write(&csv, &text).unwrap();
    let out = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    ok(&out);
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o/audit.json")).unwrap())
            .unwrap();
    assert_eq!(result["claims"][0]["summary"]["n"], 49_999);
    text.push_str("acc,17,0.1\n");
    std::fs::write(&csv, &text).unwrap();
    let out = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["r.csv, line 50002", "seed \"17\" twice"]);
}

/// An audit in `dir` of one claim on a small config (`run.toml`): the claim file, the
/// audit folder and the folder of its first run.
fn audited_run(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let claims = claim_file(dir, "run.toml", "");
    config(dir, "run.toml", &[]);
    let folder = dir.join("audit");
    ok(&audit(&claims, &folder, &[]));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("audit.json")).unwrap()).unwrap();
    let run = folder.join(result["claims"][0]["runs"][0].as_str().unwrap());
    (claims, folder, run)
}

#[test]
fn an_edited_manifest_is_refused_by_eval_verify_resume_and_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (claims, folder, run) = audited_run(dir.path());
    let path = run.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut edited: Value = serde_json::from_str(&text).unwrap();
    edited["epochs"][0]["test"]["accuracy"] = 0.99.into();
    edited["final_test"]["accuracy"] = 0.99.into();
    std::fs::write(&path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let needles = ["manifest.json", "edited"];
    assert_one_line_error(&cli(&["eval", "--run", run.to_str().unwrap()]), &needles);
    assert_one_line_error(
        &cli(&["verify", run.to_str().unwrap(), run.to_str().unwrap()]),
        &needles,
    );
    assert_one_line_error(
        &cli(&["train", "--resume", run.to_str().unwrap()]),
        &needles,
    );
    let again = audit(&claims, &folder, &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("audit.json")).unwrap()).unwrap();
    let why = result["claims"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("manifest.json") && why.contains("edited"),
        "{why}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        serde_json::to_string_pretty(&edited).unwrap(),
        "the edited folder is evidence: it is kept"
    );
    // eval recomputes every metric: a run whose record is true passes.
    let fresh = dir.path().join("fresh");
    ok(&train(&dir.path().join("run.toml"), &fresh, &[]));
    ok(&cli(&["eval", "--run", fresh.to_str().unwrap()]));
}

#[test]
fn a_resealed_manifest_with_forged_metrics_is_refused_by_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let (claims, folder, run) = audited_run(dir.path());
    // What someone holding the tool can do: edit the numbers, reseal, rewrite the log.
    let path = run.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut forged: cifar_repro::manifest::Manifest = serde_json::from_str(&text).unwrap();
    let last = forged.epochs.len() - 1;
    forged.epochs[last].test.accuracy = 0.95;
    forged.final_test.as_mut().unwrap().accuracy = 0.95;
    std::fs::write(&path, forged.to_sealed_json().unwrap()).unwrap();
    let log: String = forged
        .epochs
        .iter()
        .map(|e| cifar_repro::manifest::metrics_line(e) + "\n")
        .collect();
    std::fs::write(run.join("metrics.jsonl"), log).unwrap();
    let again = audit(&claims, &folder, &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("audit.json")).unwrap()).unwrap();
    let why = result["claims"][0]["why"].as_str().unwrap();
    let key = run.file_name().unwrap().to_string_lossy();
    assert!(
        why.contains(&*key)
            && why.contains("do not match its checkpoint")
            && why.contains("accuracy: recorded 0.95"),
        "{why}"
    );
}

#[test]
fn every_run_an_audit_trains_has_its_page_and_audit_html_links_it() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), "run.toml", "");
    config(dir.path(), "run.toml", &[]);
    let folder = dir.path().join("audit");
    ok(&audit(&claims, &folder, &[]));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("audit.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(folder.join("audit.html")).unwrap();
    let runs = result["claims"][0]["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    for run in runs {
        let run = run.as_str().unwrap();
        assert!(
            folder.join(run).join("report.html").is_file(),
            "{run} has no page"
        );
        assert!(
            html.contains(&format!("href=\"{run}/report.html\"")),
            "{run} unlinked"
        );
    }
}

#[test]
fn overwrite_clears_only_what_cifar_repro_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let quick = config(dir.path(), "q.toml", &[]);
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("manifest.json"), "{}").unwrap();
    std::fs::write(foreign.join("precious.txt"), "x").unwrap();
    assert_one_line_error(
        &train(&quick, &foreign, &["--overwrite"]),
        &["not a cifar-repro run folder"],
    );
    assert!(foreign.join("precious.txt").exists());
    let run = dir.path().join("run");
    ok(&train(&quick, &run, &[]));
    std::fs::write(run.join("precious.txt"), "x").unwrap();
    assert_one_line_error(
        &train(&quick, &run, &["--overwrite"]),
        &["precious.txt", "did not write"],
    );
    assert!(run.join("precious.txt").exists());
    std::fs::remove_file(run.join("precious.txt")).unwrap();
    ok(&train(&quick, &run, &["--overwrite"]));
}

#[test]
fn verify_ignores_how_the_data_path_is_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let quick = config(dir.path(), "q.toml", &[]);
    let data = golden_data();
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    pack_tar_gz(&data.join("cifar-10-batches-bin"), &archive, &ALL_FILES);
    let spellings = [
        data.display().to_string(),
        format!("{}/", data.display()),
        format!("{}/./cifar-10-batches-bin", data.display()),
        archive.display().to_string(),
    ];
    let runs: Vec<PathBuf> = spellings
        .iter()
        .enumerate()
        .map(|(i, spelling)| {
            let out = dir.path().join(format!("r{i}"));
            ok(&cli(&[
                "train",
                "--config",
                quick.to_str().unwrap(),
                "--data",
                spelling,
                "--out",
                out.to_str().unwrap(),
            ]));
            out
        })
        .collect();
    for other in &runs[1..] {
        let (same, text) = crate::common::verify(&runs[0], other);
        assert!(same, "{}: {text}", other.display());
    }
}

#[test]
fn resume_refuses_an_edited_config() {
    let dir = tempfile::tempdir().unwrap();
    let quick = config(dir.path(), "q.toml", &[("epochs = 1", "epochs = 2")]);
    let run = dir.path().join("run");
    crate::common::killed_before_rename(
        &[
            "train",
            "--config",
            quick.to_str().unwrap(),
            "--data",
            golden_data().to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ],
        "manifest.json@3",
    );
    let path = run.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("lr = 0.002", "lr = 0.5")).unwrap();
    assert_one_line_error(
        &cli(&["train", "--resume", run.to_str().unwrap()]),
        &["config.toml", "not the config the manifest records"],
    );
}

#[test]
fn a_run_killed_before_its_first_checkpoint_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let quick = config(dir.path(), "q.toml", &[]);
    let (straight, run) = (dir.path().join("straight"), dir.path().join("run"));
    ok(&train(&quick, &straight, &[]));
    crate::common::killed_before_rename(
        &[
            "train",
            "--config",
            quick.to_str().unwrap(),
            "--data",
            golden_data().to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ],
        "epoch-0001",
    );
    let blocked = train(&quick, &run, &[]);
    assert_one_line_error(&blocked, &["exists and is not empty", "train --resume"]);
    let resumed = cli(&["train", "--resume", run.to_str().unwrap()]);
    ok(&resumed);
    assert!(
        stderr(&resumed).contains("starts over"),
        "{}",
        stderr(&resumed)
    );
    let (same, text) = crate::common::verify(&straight, &run);
    assert!(same, "{text}");
}

#[test]
fn a_claim_file_cannot_publish_another_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shadow"),
        "root:SECRETLINE:19000:0:99999:7:::\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("shadow.toml"),
        "root:SECRETLINE:19000:0:99999:7:::\n",
    )
    .unwrap();
    for run in ["shadow", "shadow.toml", "../../../../../../etc/shadow"] {
        let claims = claim_file(dir.path(), run, "");
        let folder = dir.path().join(format!("out-{}", run.len()));
        let out = audit(&claims, &folder, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("SECRETLINE") && !stderr(&out).contains("SECRETLINE"),
            "{stdout}"
        );
        for file in ["audit.json", "audit.md", "audit.html"] {
            let text = std::fs::read_to_string(folder.join(file)).unwrap();
            assert!(
                !text.contains("SECRETLINE") && !text.contains("root:"),
                "{run}: {file}"
            );
        }
        assert!(stdout.contains("NOT RUN"), "{stdout}");
    }
}

#[test]
fn a_refused_train_leaves_no_folder_behind() {
    let dir = tempfile::tempdir().unwrap();
    let huge = config(dir.path(), "huge.toml", &[("width = 16", "width = 1024")]);
    let quick = config(dir.path(), "q.toml", &[]);
    let cases: [(&Path, &[&str], &[&str]); 2] = [
        (
            &huge,
            &["--batch-size", "8192", "--train-limit", "8192"],
            &["GiB at its peak", "a training step of batch 8192"],
        ),
        (
            &quick,
            &["--batch-size", "2048", "--train-limit", "2048"],
            &["make no full batch"],
        ),
    ];
    for (i, (config, flags, needles)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("r{i}"));
        assert_one_line_error(&train(config, &out, flags), needles);
        assert!(!out.exists(), "case {i} left {}", out.display());
        ok(&train(&quick, &out, &[]));
    }
}

#[test]
fn an_unknown_only_id_is_refused_and_the_audit_kept() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "run.toml", &[]);
    let claims = claim_file(dir.path(), "run.toml", "");
    let folder = dir.path().join("audit");
    ok(&audit(&claims, &folder, &[]));
    let before = std::fs::read_to_string(folder.join("audit.json")).unwrap();
    assert_one_line_error(
        &audit(&claims, &folder, &["--only", "nope"]),
        &["--only", "nope", "not a claim id"],
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("audit.json")).unwrap(),
        before
    );
}

#[test]
fn unbounded_inputs_are_refused_with_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = config(
        dir.path(),
        "big.toml",
        &[("lr = 0.002", &format!("lr = \"{}\"", "x".repeat(900_000)))],
    );
    let out = train(&big, &dir.path().join("r"), &[]);
    assert!(
        !out.status.success() && stderr(&out).len() < 3_000,
        "{} bytes of error",
        stderr(&out).len()
    );
    assert_one_line_error(
        &cli(&["audit", "/dev/zero"]),
        &["/dev/zero", "a device, not a regular file"],
    );
    // A regular file past each cap (sparse: it takes no disk).
    let sparse = |name: &str, mib: u64| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        file.set_len((mib << 20) + 1).unwrap();
        path
    };
    let big_claims = sparse("big.toml", 16);
    assert_one_line_error(
        &cli(&["audit", big_claims.to_str().unwrap()]),
        &["big.toml", "larger than the 16 MiB"],
    );
    let claims = claim_file(dir.path(), "quickstart", "");
    let big_results = sparse("big.csv", 512);
    let out = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        big_results.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["big.csv", "larger than the 512 MiB"]);
    let summary = sparse("wandb-summary.json", 64);
    assert_one_line_error(
        &cli(&[
            "claims",
            "from-wandb",
            summary.to_str().unwrap(),
            "--run",
            "quickstart",
        ]),
        &["wandb-summary.json", "larger than the 64 MiB"],
    );
    // An archive member that inflates past an official batch file's size.
    let batches = dir.path().join("b");
    std::fs::create_dir_all(&batches).unwrap();
    for name in ALL_FILES {
        std::fs::copy(
            golden_data().join("cifar-10-batches-bin").join(name),
            batches.join(name),
        )
        .unwrap();
    }
    std::fs::write(batches.join("data_batch_1.bin"), vec![0u8; 31_000_000]).unwrap();
    let archive = dir.path().join("bomb.tar.gz");
    pack_tar_gz(&batches, &archive, &ALL_FILES);
    assert_one_line_error(
        &cli(&["data", "verify", archive.to_str().unwrap()]),
        &["data_batch_1.bin", "larger than 30730000 bytes"],
    );
}

#[test]
fn audit_outputs_are_escaped_checked_exit_codes_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    // Markdown and HTML from ids and sentences; a newline in an id is refused.
    let claims = dir.path().join("c.toml");
    std::fs::write(&claims, "seed = 1\nmargin = 0.5\n[[claim]]\nid = \"<b>bold</b> | pipe\"\nsentence = \"a | b <script>x</script>\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.1\n[[claim]]\nid = \"two\\nlines\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.1\n").unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(
        &csv,
        "claim,seed,value\n\"<b>bold</b> | pipe\",1,0.1\n\"<b>bold</b> | pipe\",2,0.12\n",
    )
    .unwrap();
    let folder = dir.path().join("o");
    let out = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a claim that cannot be parsed is broken: {}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(folder.join("audit.md")).unwrap();
    assert!(!md.contains("<b>") && !md.contains("<script>"), "{md}");
    let table_rows = md.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(table_rows, 3, "header and two claims: {md}");
    assert!(md.contains("without control characters"), "{md}");
    let html = std::fs::read_to_string(folder.join("audit.html")).unwrap();
    assert!(!html.contains("<b>bold") && !html.contains("<script>"));
    // --results: a value outside the metric's domain, an id not in the file.
    let plain = claim_file(dir.path(), "quickstart", "");
    std::fs::write(&csv, "claim,seed,value\nacc,1,1.5\nacc,2,0.1\n").unwrap();
    let out = cli(&[
        "audit",
        plain.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("line 2: 1.5 is outside the domain of accuracy")
    );
    std::fs::write(&csv, "claim,seed,value\nacc,1,0.1\nother,1,0.1\n").unwrap();
    let out = cli(&[
        "audit",
        plain.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &["line 3", "\"other\" is not a claim of the claim file"],
    );
    // A margin wider than the metric can differ, and one that overflows the arithmetic.
    let wide = claim_file(dir.path(), "quickstart", "margin = 1e200");
    std::fs::write(&csv, "claim,seed,value\nacc,1,0.1\nacc,2,0.12\n").unwrap();
    let out = cli(&[
        "audit",
        wide.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("margin = 1e200 is larger than accuracy can differ by")
    );
    // Corrupt data: every claim NOT RUN because something is wrong, exit 2.
    let corrupt = dir.path().join("corrupt");
    crate::common::copy_golden(&corrupt);
    std::fs::write(
        corrupt.join("cifar-10-batches-bin/test_batch.bin"),
        b"short",
    )
    .unwrap();
    let out = cli(&[
        "audit",
        plain.to_str().unwrap(),
        "--data",
        corrupt.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A second audit on a folder in use is refused, naming the first one's pid.
    let _held = cifar_repro::fsutil::lock_folder(&folder).unwrap();
    let out = cli(&[
        "audit",
        plain.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &out,
        &[
            "in use by another cifar-repro",
            &format!("pid {}", std::process::id()),
        ],
    );
}

/// A tmpfs of `kib` KiB at a fresh folder, when this process may mount one (root); none
/// elsewhere (the test then says so and checks nothing).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, kib: usize) -> Option<Self> {
        let at = dir.join("disk");
        std::fs::create_dir_all(&at).ok()?;
        let done = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k"),
                "tmpfs",
                at.to_str()?,
            ])
            .status()
            .ok()?;
        done.success().then_some(Self(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn messages_name_the_file_and_read_as_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let quick = config(dir.path(), "q.toml", &[]);
    // Floats far from 1 in exponent form.
    let tiny = config(dir.path(), "tiny.toml", &[("lr = 0.002", "lr = 1e-320")]);
    let out = train(&tiny, &dir.path().join("t"), &[]);
    assert_one_line_error(&out, &["optim.lr = 1e-320", "allowed > 0 and <= 10"]);
    // An unfinished run is named as such by verify; eval names its epoch, not "final".
    let (done, part) = (dir.path().join("done"), dir.path().join("part"));
    let two = config(dir.path(), "two.toml", &[("epochs = 1", "epochs = 2")]);
    ok(&train(&two, &done, &[]));
    crate::common::killed_before_rename(
        &[
            "train",
            "--config",
            two.to_str().unwrap(),
            "--data",
            golden_data().to_str().unwrap(),
            "--out",
            part.to_str().unwrap(),
        ],
        "manifest.json@3",
    );
    let (_, text) = crate::common::verify(&done, &part);
    assert!(
        text.contains("one run is unfinished") && !text.contains("deterministic kernel"),
        "{text}"
    );
    let eval = cli(&["eval", "--run", part.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        stdout.contains("epoch 1 (the run is not completed)") && !stdout.contains("final"),
        "{stdout}"
    );
    // A full disk: a sentence naming the file, never Rust's debug text; verdicts printed.
    let Some(disk) = SmallDisk::mount(dir.path(), 600) else {
        eprintln!(
            "item 14: no tmpfs could be mounted (not root): the full-disk messages are not checked here"
        );
        return;
    };
    let out = train(&quick, &disk.0.join("run"), &[]);
    assert_one_line_error(&out, &["No space left on device", "model.safetensors"]);
    assert!(!stderr(&out).contains("IoError(Os"), "{}", stderr(&out));
    let partial: Vec<_> = std::fs::read_dir(disk.0.join("run/checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        partial.is_empty(),
        "a failed checkpoint was left behind: {partial:?}"
    );
    let claims = claim_file(dir.path(), "quickstart", "");
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "claim,seed,value\nacc,1,0.1\nacc,2,0.12\n").unwrap();
    std::fs::remove_dir_all(disk.0.join("run")).unwrap();
    // Room for the lock and a page or two of the audit's files, not for all of them.
    std::fs::write(disk.0.join("filler"), vec![0u8; 588 * 1024]).unwrap();
    let folder = disk.0.join("audit");
    let out = cli_command(&[
        "audit",
        claims.to_str().unwrap(),
        "--results",
        csv.to_str().unwrap(),
        "--out",
        folder.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("acc "),
        "the verdicts are printed even when a file cannot be written"
    );
    assert!(
        !out.status.success() && stderr(&out).contains("audit"),
        "{}",
        stderr(&out)
    );
}

/// A real sealed manifest, to damage.
fn sealed_manifest() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let quick = config(dir.path(), "q.toml", &[]);
        let run = dir.path().join("run");
        ok(&train(&quick, &run, &[]));
        std::fs::read_to_string(run.join("manifest.json")).unwrap()
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// A manifest with a field set to null, removed, or made huge is refused, never a
    /// panic; the untouched one reads.
    #[test]
    fn a_damaged_manifest_is_refused_never_a_panic(pick in 0usize..10_000, how in 0u8..3) {
        use cifar_repro::manifest::Manifest;
        let text = sealed_manifest();
        assert!(Manifest::from_sealed_json(text).is_ok());
        let mut value: Value = serde_json::from_str(text).unwrap();
        let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        let key = &keys[pick % keys.len()];
        let object = value.as_object_mut().unwrap();
        match how {
            0 => { object.insert(key.clone(), Value::Null); }
            1 => { object.remove(key); }
            _ => { object.insert(key.clone(), Value::String("9".repeat(1 << 20))); }
        }
        let damaged = serde_json::to_string(&value).unwrap();
        proptest::prop_assert!(Manifest::from_sealed_json(&damaged).is_err(), "{key}");
    }

    /// Any text given as a results CSV is read or refused, never a panic.
    #[test]
    fn any_results_text_is_read_or_refused(text in "\u{feff}?[a-z,\"#\\n 0-9.\\-]{0,400}") {
        let _ = cifar_repro::audit::Results::parse(&text, Path::new("p.csv"));
    }
}

#[test]
fn a_number_that_is_not_finite_is_refused_before_any_folder_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let normalize = |mean: &str, std: &str| {
        format!("normalize = {{ mean = [{mean}, 0.0, 0.0], std = [{std}, 0.2, 0.2] }}")
    };
    let cases = [
        (normalize("nan", "0.2"), "augment.normalize.mean[0] = nan"),
        (normalize("0.0", "1e-45"), "normalize.std"),
        (normalize("1e39", "0.2"), "augment.normalize.mean[0] = inf"),
        (
            "normalize = \"cifar\"\nerasing = { p = 0.5, value = inf }".into(),
            "augment.erasing.value = inf",
        ),
        (
            "normalize = \"cifar\"\nerasing = { p = 0.5, value = 1e40 }".into(),
            "augment.erasing.value = inf",
        ),
    ];
    for (i, (line, needle)) in cases.iter().enumerate() {
        let path = config(d, &format!("c{i}.toml"), &[("normalize = \"cifar\"", line)]);
        let out = d.join(format!("run{i}"));
        assert_one_line_error(&train(&path, &out, &[]), &[needle]);
        assert!(!out.exists(), "{needle}: a folder was made");
    }
    let lr = config(d, "lr.toml", &[("lr = 0.002", "lr = -inf")]);
    assert_one_line_error(
        &train(&lr, &d.join("lr"), &[]),
        &["line", "optim.lr = -inf"],
    );
    // augment --config reads the same section with the same checks.
    std::fs::write(
        d.join("aug.toml"),
        "normalize = { mean = [0.0, 0.0, 0.0], std = [0.2, nan, 0.2] }\n",
    )
    .unwrap();
    let data = golden_data();
    let aug = cli(&[
        "augment",
        "--config",
        d.join("aug.toml").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        d.join("aug").to_str().unwrap(),
    ]);
    assert_one_line_error(&aug, &["line 1", "normalize.std[1] = nan"]);
    assert!(!d.join("aug").exists());
    // And a claim file: a NaN margin is no margin.
    let claims = claim_file(d, "lr.toml", "margin = nan");
    assert_one_line_error(
        &audit(&claims, &d.join("audit"), &["--plan"]),
        &["claim[0].margin = nan"],
    );
}

#[test]
fn a_run_folder_is_written_by_one_process_at_a_time_and_never_deletes_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slow = config(
        d,
        "slow.toml",
        &[
            ("epochs = 1", "epochs = 4"),
            ("train_limit = 96", "train_limit = 640"),
        ],
    );
    let run = d.join("run");
    let data = golden_data();
    let mut first = crate::common::cli_command(&[
        "train",
        "--config",
        slow.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    while !run.join("config.toml").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let needles = ["in use by another cifar-repro (pid"];
    assert_one_line_error(
        &cli(&["train", "--resume", run.to_str().unwrap()]),
        &needles,
    );
    assert_one_line_error(&train(&slow, &run, &["--overwrite"]), &needles);
    assert!(
        first.wait().unwrap().success(),
        "the first run is untouched"
    );
    ok(&cli(&["eval", "--run", run.to_str().unwrap()]));
    // A second stage that names its first as both start and output is refused before
    // anything is deleted.
    let stage2 = d.join("stage2.toml");
    let text = std::fs::read_to_string(&slow).unwrap();
    std::fs::write(
        &stage2,
        format!("init_from = {{ run = \"slow.toml\" }}\n{text}"),
    )
    .unwrap();
    let same = train(
        &stage2,
        &run,
        &["--init-from", run.to_str().unwrap(), "--overwrite"],
    );
    assert_one_line_error(
        &same,
        &["--init-from and --out both name", "choose another --out"],
    );
    ok(&cli(&["eval", "--run", run.to_str().unwrap()]));
}

#[test]
fn an_audit_never_replaces_files_it_did_not_write_in_its_out_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(d, "run.toml", &[]);
    let claims = claim_file(d, "run.toml", "");
    let folder = d.join("mine");
    std::fs::create_dir(&folder).unwrap();
    for name in ["audit.md", ".lock"] {
        std::fs::write(folder.join(name), "my own").unwrap();
    }
    let refused = audit(&claims, &folder, &[]);
    assert_one_line_error(
        &refused,
        &["holds", "audit.md", "did not write", "choose another --out"],
    );
    for name in ["audit.md", ".lock"] {
        assert_eq!(
            std::fs::read_to_string(folder.join(name)).unwrap(),
            "my own"
        );
    }
    // A folder with other files of the user's is used, and they are left alone; the
    // audit's own files are its to replace when it runs again.
    std::fs::remove_file(folder.join("audit.md")).unwrap();
    std::fs::remove_file(folder.join(".lock")).unwrap();
    std::fs::write(folder.join("notes.txt"), "my own").unwrap();
    ok(&audit(&claims, &folder, &[]));
    ok(&audit(&claims, &folder, &[]));
    assert_eq!(
        std::fs::read_to_string(folder.join("notes.txt")).unwrap(),
        "my own"
    );
    // A folder an earlier cifar-repro made (no marker, its lock holding a pid) is its own.
    std::fs::remove_file(folder.join(".cifar-repro")).unwrap();
    std::fs::write(folder.join(".lock"), "4242").unwrap();
    ok(&audit(&claims, &folder, &[]));
    // A lock file that is a symlink is refused, and what it points to is left whole.
    let elsewhere = d.join("bashrc");
    std::fs::write(&elsewhere, "my settings").unwrap();
    std::fs::remove_file(folder.join(".lock")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, folder.join(".lock")).unwrap();
    assert_one_line_error(&audit(&claims, &folder, &[]), &[".lock"]);
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "my settings");
}

#[test]
fn an_augment_preview_past_its_memory_budget_is_refused_with_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preview");
    let data = golden_data();
    let refused = cli(&[
        "augment",
        "--preset",
        "e3b-strong",
        "--count",
        "5000",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &refused,
        &[
            "--count 5000 at 224 px needs about 50.5 GiB",
            "at most 396 images",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn an_output_path_that_is_not_utf8_is_refused_before_any_work() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), "quickstart", "");
    let out = dir.path().join(std::ffi::OsStr::from_bytes(b"audit-\xff"));
    let refused = crate::common::cli_command(&["audit", claims.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("invalid UTF-8"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.exists());
}

#[test]
fn eval_on_other_data_says_so_instead_of_differs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = d.join("run");
    ok(&train(&config(d, "run.toml", &[]), &run, &[]));
    let other = crate::common::copy_golden(&d.join("other"));
    let test = other.join("test_batch.bin");
    let mut bytes = std::fs::read(&test).unwrap();
    bytes[0] = (bytes[0] + 1) % 10;
    std::fs::write(&test, bytes).unwrap();
    let out = cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        d.join("other").to_str().unwrap(),
    ]);
    ok(&out);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("not compared with the run's record: the data evaluated is not the run's"),
        "{printed}"
    );
    assert!(!printed.contains("DIFFERS"), "{printed}");
}

#[test]
fn a_preset_run_from_another_folder_says_where_it_looked_for_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::cli_command(&["train", "--config", "quickstart", "--out", "run"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        &[
            "golden/data: no such file or directory (looked for in",
            "run there, or give --data PATH",
        ],
    );
}
