//! Claims whose run is a command (`[runners.NAME]`, `run = "runner:NAME"`), run with the
//! toy program tests/fixtures/programs/toy.py: refused without --allow-commands, a seed
//! that reproduces and one that reads the clock, a timeout that kills the whole process
//! group, a missing metric as a failed seed, reuse after `kill -9` of the audit midway, a
//! sharded audit merged byte for byte, and the PyTorch reference's claim file kept in step
//! with the quickstart preset.

use crate::common::{assert_one_line_error, cli, cli_command};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn toy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/programs")
}

/// A claim file in `dir` with runner `toy` (toy.py with `extra` arguments, `timeout_s`)
/// and `claims` appended.
fn claim_file(dir: &Path, extra: &[&str], timeout_s: u64, claims: &str) -> PathBuf {
    let mut command = vec!["python3", "toy.py", "--seed", "{seed}", "--out", "{out}"];
    command.extend_from_slice(extra);
    let text = format!(
        r#"seed = 7
margin = 0.05

[runners.toy]
command = {command:?}
workdir = {workdir:?}
inputs = ["toy.py"]
outputs = ["{{out}}/model.bin"]
metrics = {{ file = "{{out}}/metrics.json", accuracy = "val acc", macro_f1 = "val f1" }}
epoch_log = "{{out}}/epochs.jsonl"
timeout_s = {timeout_s}
{claims}"#,
        workdir = toy_dir().display().to_string(),
    );
    let path = dir.join("claims.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const ACCURACY: &str = r#"
[[claim]]
id = "toy-accuracy"
sentence = "The toy reaches 0.55."
run = "runner:toy"
metric = "accuracy"
value = 0.55
"#;

const REPRODUCIBLE: &str = r#"
[[claim]]
id = "toy-reproducible"
sentence = "A fixed seed reproduces."
run = "runner:toy"
reproducible = true
"#;

fn audit(claims: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-commands",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

/// The audit started in the background (its progress discarded), to kill midway.
fn spawn_audit(claims: &Path, out: &Path) -> std::process::Child {
    cli_command(&[
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-commands",
    ])
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap()
}

fn audit_json(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("audit.json")).unwrap()).unwrap()
}

fn claim<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

fn record(folder: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("command.json")).unwrap()).unwrap()
}

/// The run folders of an audit folder, sorted.
fn run_folders(out: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("command.json").is_file())
        .collect();
    runs.sort();
    runs
}

/// The processes still running whose command line names a folder under `out` (the toy
/// is given `--out {out}`).
fn processes_of(out: &Path) -> Vec<String> {
    let needle = std::path::absolute(out).unwrap().display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn commands_are_refused_without_allow_commands_before_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, ACCURACY);
    let out = dir.path().join("audit");
    let refused = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(
        &refused,
        &["--allow-commands", "toy-accuracy", "python3 toy.py"],
    );
    assert!(!out.exists());
    let plan = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plan",
    ]);
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert_eq!(
        stdout.matches("python3 toy.py --seed ").count(),
        3,
        "{stdout}"
    );
    assert!(!out.join("runs").exists());
}

#[test]
fn a_seed_reproduces_and_the_clock_does_not_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let steady = claim_file(dir.path(), &[], 60, REPRODUCIBLE);
    let out = dir.path().join("steady");
    let run = audit(&steady, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let verdict = claim(&audit_json(&out), "toy-reproducible").clone();
    assert_eq!(verdict["verdict"], "REPRODUCED", "{verdict}");
    let clock = claim_file(dir.path(), &["--clock"], 60, REPRODUCIBLE);
    let out = dir.path().join("clock");
    let run = audit(&clock, &out, &[]);
    assert_eq!(run.status.code(), Some(1));
    let verdict = claim(&audit_json(&out), "toy-reproducible").clone();
    assert_eq!(verdict["verdict"], "NOT_REPRODUCED", "{verdict}");
    let why = verdict["why"].as_str().unwrap();
    assert!(why.contains("output {out}/model.bin differs"), "{why}");
    assert!(why.contains("epoch 2: weights differ"), "{why}");
    let runs = run_folders(&out);
    let (identical, said) = crate::common::verify(&runs[0], &runs[1]);
    assert!(
        !identical && said.contains("epoch 2: weights differ"),
        "{said}"
    );
    let first = record(&runs[0]);
    assert_eq!(first["status"], "completed");
    assert!(
        first["python"]["version"]
            .as_str()
            .unwrap()
            .starts_with("Python 3")
    );
    assert_eq!(first["argv"][0], "python3");
    assert_eq!(first["run"]["inputs"][0]["path"], "toy.py");
}

#[test]
fn a_timeout_kills_the_whole_process_group_and_fails_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(
        dir.path(),
        &["--sleep", "60", "--child-sleep", "60"],
        2,
        ACCURACY,
    );
    let out = dir.path().join("audit");
    let clock = Instant::now();
    let run = audit(&claims, &out, &["--seeds", "1"]);
    assert!(
        clock.elapsed() < Duration::from_secs(30),
        "took {:?}",
        clock.elapsed()
    );
    assert!(
        run.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let folder = &run_folders(&out)[0];
    let record = record(folder);
    assert_eq!(record["status"], "failed");
    assert_eq!(record["timed_out"], true);
    assert!(
        processes_of(&out).is_empty(),
        "left running: {:?}",
        processes_of(&out)
    );
    let result = claim(&audit_json(&out), "toy-accuracy").clone();
    let notes = result["notes"].to_string();
    assert!(notes.contains("seed 1 (--seed "), "{notes}");
    assert!(notes.contains("timed out after 2 s"), "{notes}");
}

#[test]
fn a_missing_metric_is_a_failed_seed_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &["--no-metrics"], 60, ACCURACY);
    let out = dir.path().join("audit");
    audit(&claims, &out, &["--seeds", "2"]);
    let result = claim(&audit_json(&out), "toy-accuracy").clone();
    assert_eq!(result["verdict"], "NOT_RUN", "{result}");
    let notes = result["notes"].to_string();
    assert!(notes.contains("metrics.json"), "{notes}");
    assert!(notes.contains("seed 2 (--seed "), "{notes}");
    let claims = claim_file(dir.path(), &["--exit", "3"], 60, ACCURACY);
    let out = dir.path().join("exit");
    audit(&claims, &out, &["--seeds", "1"]);
    let notes = claim(&audit_json(&out), "toy-accuracy")["notes"].to_string();
    assert!(notes.contains("exited with status 3"), "{notes}");
    assert!(notes.contains("toy: failing on purpose"), "{notes}");
}

#[test]
fn a_failed_seed_runs_again_once_its_cause_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, ACCURACY);
    let out = dir.path().join("audit");
    let args = [
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let mut failing = cli_command(&args);
    failing
        .args(["--allow-commands", "--seeds", "1"])
        .env("TOY_EXIT", "4");
    failing.output().unwrap();
    let notes = claim(&audit_json(&out), "toy-accuracy")["notes"].to_string();
    assert!(notes.contains("exited with status 4"), "{notes}");
    let folder = run_folders(&out)[0].clone();
    audit(&claims, &out, &["--seeds", "1"]);
    assert_eq!(run_folders(&out), std::slice::from_ref(&folder));
    assert_eq!(record(&folder)["status"], "completed");
    let result = claim(&audit_json(&out), "toy-accuracy").clone();
    assert_ne!(result["verdict"], "NOT_RUN", "{result}");
}

#[test]
fn an_audit_killed_mid_command_reuses_what_finished_and_reruns_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &["--sleep", "2"], 60, ACCURACY);
    let out = dir.path().join("audit");
    let mut child = spawn_audit(&claims, &out);
    // Kill the audit once the first seed ended and the second is running.
    let started = Instant::now();
    let (finished, running) = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached seed 2"
        );
        let records: Vec<Value> = std::fs::read_dir(out.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("command.json")).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect();
        let done = records
            .iter()
            .filter(|r| r["status"] == "completed")
            .count();
        let live = records
            .iter()
            .filter(|r| r["status"] == "running" && r["pgid"].is_i64())
            .count();
        if done == 1 && live == 1 {
            break (done, live);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!((finished, running), (1, 1));
    child.kill().unwrap();
    child.wait().unwrap();
    let first: Vec<(PathBuf, Vec<u8>)> = run_folders(&out)
        .into_iter()
        .filter(|f| record(f)["status"] == "completed")
        .map(|f| (f.clone(), std::fs::read(f.join("command.json")).unwrap()))
        .collect();
    let rerun = audit(&claims, &out, &[]);
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert_eq!(
        stderr.matches("reusing finished run").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches(": training ").count(), 2, "{stderr}");
    for (folder, bytes) in first {
        assert_eq!(std::fs::read(folder.join("command.json")).unwrap(), bytes);
    }
    assert!(
        run_folders(&out)
            .iter()
            .all(|f| record(f)["status"] == "completed")
    );
    assert!(processes_of(&out).is_empty());
}

#[test]
fn ctrl_c_kills_the_program_s_group_writes_nothing_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(
        dir.path(),
        &["--sleep", "60", "--child-sleep", "60"],
        600,
        ACCURACY,
    );
    let out = dir.path().join("audit");
    let mut child = spawn_audit(&claims, &out);
    let started = Instant::now();
    while processes_of(&out).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) sends SIGINT to the audit, as Ctrl-C in its terminal would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        processes_of(&out).is_empty(),
        "left running: {:?}",
        processes_of(&out)
    );
    assert!(!out.join("audit.json").exists());
    // No seed was recorded as failed: each is rerun by the next audit.
    let statuses: Vec<Value> = run_folders(&out)
        .iter()
        .map(|f| record(f)["status"].clone())
        .collect();
    assert!(statuses.iter().all(|s| s == "running"), "{statuses:?}");
}

#[test]
fn a_sharded_command_audit_merges_into_the_unsharded_one_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, &format!("{ACCURACY}{REPRODUCIBLE}"));
    let whole = dir.path().join("whole");
    assert!(audit(&claims, &whole, &[]).status.code().is_some());
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("shard{i}")))
        .collect();
    for (i, shard) in shards.iter().enumerate() {
        let part = format!("{i}/2");
        let run = audit(&claims, shard, &["--shard", &part]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["audit", "merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let merge = cli(&args);
    assert!(
        merge.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    for file in ["audit.json", "audit.md"] {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(merged.join(file)).unwrap(),
            "{file} differs"
        );
    }
    // A symlink planted in a shard's run folder is refused, never copied out.
    let planted = run_folders(&shards[0])[0].join("out/notes.txt");
    std::os::unix::fs::symlink("/etc/hostname", &planted).unwrap();
    let again = dir.path().join("again");
    let mut args = vec!["audit", "merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--out", again.to_str().unwrap()]);
    crate::common::assert_one_line_error(
        &cli(&args),
        &["notes.txt", "a symlink", "refusing to copy it"],
    );
    // A shard record naming a run outside its runs/ is refused before anything is copied.
    std::fs::remove_file(&planted).unwrap();
    let record = shards[0].join("shard.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    json["runs"][0] = Value::from("../../outside");
    std::fs::write(&record, serde_json::to_string(&json).unwrap()).unwrap();
    crate::common::assert_one_line_error(
        &cli(&args),
        &["../../outside", "not a folder under runs/"],
    );
}

#[test]
fn the_pytorch_reference_trains_the_quickstart_preset_as_printed() {
    let printed = cli(&["train", "--config", "quickstart", "--print-config"]);
    let committed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/claims/quickstart-preset.toml"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout),
        String::from_utf8_lossy(&committed),
        "regenerate: cifar-repro train --config quickstart --print-config > golden/claims/quickstart-preset.toml"
    );
}

/// A claim file in `dir` with runner `r` (`runner` holds its keys) and `claims`.
fn runner_file(dir: &Path, runner: &str, claims: &str) -> PathBuf {
    let text = format!("seed = 7\nmargin = 0.05\n\n[runners.r]\n{runner}\n{claims}");
    let path = dir.join("claims.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_declared_output_missing_from_both_runs_is_never_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, REPRODUCIBLE);
    let text = std::fs::read_to_string(&claims)
        .unwrap()
        .replace("{out}/model.bin", "{out}/model.pt");
    std::fs::write(&claims, text).unwrap();
    let out = dir.path().join("audit");
    let status = audit(&claims, &out, &["--seeds", "1"]).status;
    let result = claim(&audit_json(&out), "toy-reproducible").clone();
    assert_eq!(result["verdict"], "NOT_RUN", "{result}");
    let why = result["why"].as_str().unwrap();
    assert!(
        why.contains("{out}/model.pt") && why.contains("missing"),
        "{why}"
    );
    assert_ne!(
        status.code(),
        Some(0),
        "a claim that cannot be judged exits non-zero"
    );
}

#[test]
fn a_percentage_is_refused_naming_scale_and_every_seed_failing_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &["--percent"], 60, ACCURACY);
    let out = dir.path().join("audit");
    let status = audit(&claims, &out, &["--seeds", "2"]).status;
    let result = claim(&audit_json(&out), "toy-accuracy").clone();
    assert_eq!(result["verdict"], "NOT_RUN", "{result}");
    let why = result["why"].as_str().unwrap();
    assert!(
        why.contains("2 of 2 seeds failed") && why.contains("give scale = 0.01"),
        "{why}"
    );
    assert_eq!(status.code(), Some(2), "{why}");
    let claims = claim_file(dir.path(), &["--exit", "3"], 60, ACCURACY);
    let out = dir.path().join("exit");
    let status = audit(&claims, &out, &["--seeds", "2"]).status;
    let why = claim(&audit_json(&out), "toy-accuracy")["why"].to_string();
    assert!(why.contains("exited with status 3"), "{why}");
    assert_eq!(status.code(), Some(2), "{why}");
}

#[test]
fn a_program_gets_no_variable_its_runner_does_not_set() {
    let dir = tempfile::tempdir().unwrap();
    let script = "env > {out}/env.txt; echo '{{\"acc\": 0.5}}' > {out}/m.json";
    let runner = format!(
        "command = [\"sh\", \"-c\", {script:?}]\nenv = {{ MINE = \"{{seed}}\" }}\nmetrics = {{ file = \"{{out}}/m.json\", accuracy = \"acc\" }}"
    );
    let claims = runner_file(
        dir.path(),
        &runner,
        &ACCURACY.replace("runner:toy", "runner:r"),
    );
    let out = dir.path().join("audit");
    let output = cli_command(&[
        "audit",
        claims.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-commands",
        "--seeds",
        "2",
    ])
    .env_remove("CUBLAS_WORKSPACE_CONFIG")
    .env("INHERITED_BY_PROGRAM", "yes")
    .output()
    .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = &run_folders(&out)[0];
    let env = std::fs::read_to_string(run.join("out/env.txt")).unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|p| p.0))
        .collect();
    for injected in [
        "CUBLAS_WORKSPACE_CONFIG",
        "CIFAR_REPRO_RUN",
        "CIFAR_REPRO_SEED",
    ] {
        assert!(
            !names.contains(&injected),
            "{injected} reached the program: {names:?}"
        );
    }
    assert!(
        names.contains(&"INHERITED_BY_PROGRAM") && names.contains(&"MINE"),
        "{names:?}"
    );
    let recorded = record(run)["env"].clone();
    assert!(
        recorded.get("MINE").is_some() && recorded.get("CUBLAS_WORKSPACE_CONFIG").is_none(),
        "{recorded}"
    );
}

#[test]
fn a_script_that_wants_a_terminal_and_writes_to_its_cwd_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let script = "set -- $(stty size); mkdir checkpoint; echo \"$2\" > checkpoint/width; printf 'Acc: 10.0%%\\rAcc: 62.5%%\\r'";
    let runner = format!(
        "command = [\"sh\", \"-c\", {script:?}]\ncwd = \"out\"\nterminal = true\noutputs = [\"checkpoint/width\"]\nmetrics = {{ stdout = true, accuracy = 'Acc: ([0-9.]+)%', scale = 0.01 }}"
    );
    let claims = runner_file(
        dir.path(),
        &runner,
        &ACCURACY.replace("runner:toy", "runner:r"),
    );
    let out = dir.path().join("audit");
    let output = audit(&claims, &out, &["--seeds", "2"]);
    let result = claim(&audit_json(&out), "toy-accuracy").clone();
    assert_ne!(result["verdict"], "NOT_RUN", "{result}");
    let value = result["values"][0].as_f64().unwrap();
    assert!((value - 0.625).abs() < 1e-12, "{result}");
    for run in run_folders(&out) {
        assert_eq!(
            std::fs::read_to_string(run.join("out/checkpoint/width")).unwrap(),
            "80\n"
        );
    }
    let notes = result["notes"].to_string();
    assert!(
        notes.contains("unseeded runs") && notes.contains("takes no seed"),
        "{notes}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("given its own seed"));
}

#[test]
fn an_unseeded_program_is_named_and_seed_python_seeds_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import random, os; open(os.environ['OUT'] + '/draw', 'w').write(repr(random.random())); open(os.environ['OUT'] + '/m.json', 'w').write('{{\"acc\": 0.5}}')";
    let runner = |seeded: bool| {
        format!(
            "command = [\"python3\", \"-c\", {script:?}]\nenv = {{ OUT = \"{{out}}\" }}\nseed_python = {seeded}\noutputs = [\"{{out}}/draw\"]\nmetrics = {{ file = \"{{out}}/m.json\", accuracy = \"acc\" }}"
        )
    };
    let claim_of = |seeded: bool, name: &str| {
        let claims = runner_file(
            dir.path(),
            &runner(seeded),
            &REPRODUCIBLE.replace("runner:toy", "runner:r"),
        );
        let out = dir.path().join(name);
        audit(&claims, &out, &["--seeds", "1"]);
        claim(&audit_json(&out), "toy-reproducible").clone()
    };
    let unseeded = claim_of(false, "unseeded");
    assert_eq!(unseeded["verdict"], "NOT_REPRODUCED", "{unseeded}");
    let why = unseeded["why"].as_str().unwrap();
    assert!(
        why.contains("takes no seed") && why.contains("{out}/draw differs"),
        "{why}"
    );
    let seeded = claim_of(true, "seeded");
    assert_eq!(seeded["verdict"], "REPRODUCED", "{seeded}");
    let run = &run_folders(&dir.path().join("seeded"))[0];
    let env = record(run)["env"].clone();
    assert!(
        env["PYTHONPATH"].as_str().unwrap().contains("/hook"),
        "{env}"
    );
    assert!(
        env.get("CIFAR_REPRO_SEED").is_some() && env.get("PYTHONHASHSEED").is_some(),
        "{env}"
    );
}

#[test]
fn verify_names_what_two_program_runs_ran_differently_and_a_missing_metric() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, ACCURACY);
    let out = dir.path().join("audit");
    audit(&claims, &out, &["--seeds", "2"]);
    let runs = run_folders(&out);
    let verify = |a: &Path, b: &Path| {
        let output = cli(&["verify", a.to_str().unwrap(), b.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let seeds = verify(&runs[0], &runs[1]);
    assert!(
        seeds.contains("they ran different things: the seed: "),
        "{seeds}"
    );
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    // A record resealed without one metric, as an older version's or a resealed edit.
    let mut record = cifar_repro::program::ProgramRecord::read(&runs[0]).unwrap();
    record.metrics.remove("macro_f1");
    std::fs::write(copy.join("command.json"), record.to_sealed_json().unwrap()).unwrap();
    let missing = verify(&runs[0], &copy);
    assert!(
        missing.contains("metric macro_f1 is missing from the second run"),
        "{missing}"
    );
}

#[test]
fn an_edited_command_json_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &[], 60, ACCURACY);
    let out = dir.path().join("audit");
    audit(&claims, &out, &["--seeds", "2"]);
    let run = &run_folders(&out)[0];
    let path = run.join("command.json");
    let mut forged = record(run);
    forged["metrics"]["accuracy"] = 0.95.into();
    std::fs::write(&path, serde_json::to_string_pretty(&forged).unwrap()).unwrap();
    let again = audit(&claims, &out, &["--seeds", "2"]);
    assert_eq!(again.status.code(), Some(2));
    let why = claim(&audit_json(&out), "toy-accuracy")["why"].to_string();
    assert!(
        why.contains("command.json") && why.contains("edited"),
        "{why}"
    );
    let other = &run_folders(&out)[1];
    let verify = cli(&["verify", run.to_str().unwrap(), other.to_str().unwrap()]);
    assert_one_line_error(&verify, &["command.json", "edited"]);
}

#[test]
fn a_diverged_program_s_nan_metric_reads_back_and_its_runs_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let claims = claim_file(dir.path(), &["--nan"], 60, ACCURACY);
    let out = dir.path().join("audit");
    let first = audit(&claims, &out, &["--seeds", "2"]);
    let why = claim(&audit_json(&out), "toy-accuracy")["why"].clone();
    assert_eq!(first.status.code(), Some(2), "{why}");
    let run = &run_folders(&out)[0];
    assert_eq!(record(run)["metrics"]["accuracy"], "NaN");
    let again = audit(&claims, &out, &["--seeds", "2"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(claim(&audit_json(&out), "toy-accuracy")["why"], why);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("reusing"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Audits one seed of an accuracy claim of `value` on runner `r` (`runner` holds its
/// keys) in `dir`, which must succeed; returns the seed's run folder.
fn audited_seed(dir: &Path, runner: &str, value: f64) -> PathBuf {
    let claims = format!(
        "[[claim]]\nid = \"a\"\nsentence = \"s\"\nrun = \"runner:r\"\nmetric = \"accuracy\"\nvalue = {value}\n"
    );
    let claims = runner_file(dir, runner, &claims);
    let out = dir.join("audit");
    let done = audit(&claims, &out, &["--seeds", "1"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    run_folders(&out).remove(0)
}

/// A program whose grandchild leaves its session (`setsid`) and would sleep for a
/// minute, writing its pid first.
const ESCAPER: &str = r#"
import json, os, sys, time
out, pidfile = sys.argv[1], sys.argv[2]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(pidfile + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(pidfile + ".tmp", pidfile)
        time.sleep(60)
    os._exit(0)
while not os.path.exists(pidfile):
    time.sleep(0.01)
with open(os.path.join(out, "m.json"), "w") as f:
    json.dump({"acc": 0.5}, f)
"#;

#[test]
fn a_descendant_that_calls_setsid_dies_with_the_program() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("escaper.py"), ESCAPER).unwrap();
    let runner = "command = [\"python3\", \"escaper.py\", \"{out}\", \"{out}/daemon.pid\", \"{seed}\"]\nmetrics = { file = \"{out}/m.json\", accuracy = \"acc\" }\n";
    let folder = &audited_seed(dir.path(), runner, 0.5);
    let pid: i32 = std::fs::read_to_string(folder.join("out/daemon.pid"))
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: kill(2) with signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    if alive {
        // SAFETY: kills the survivor, so the test leaves nothing behind.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(!alive, "the setsid grandchild {pid} outlived the audit");
}

#[test]
fn a_flood_of_output_keeps_its_head_and_tail_and_the_metric_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    // 40 MiB of progress on stdout, then the final line a script prints.
    let script = "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(40 * 1024):\n    sys.stdout.write(line)\nprint('Acc: 61.5%')\n";
    std::fs::write(dir.path().join("flood.py"), script).unwrap();
    let runner = "command = [\"python3\", \"flood.py\", \"{seed}\"]\nmetrics = { stdout = true, accuracy = 'Acc: ([0-9.]+)%', scale = 0.01 }\n";
    let folder = &audited_seed(dir.path(), runner, 0.6);
    let kept = std::fs::metadata(folder.join("stdout.txt")).unwrap().len();
    assert!(kept < 33 << 20, "{kept} bytes kept");
    let record = record(folder);
    assert!(record["output_cut"].as_u64().unwrap() > 7 << 20, "{record}");
    assert_eq!(record["metrics"]["accuracy"], 0.615);
}
