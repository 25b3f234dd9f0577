//! Claim files and the audit end to end (in child processes).

use crate::common::{assert_one_line_error, cli, golden_data, killed_before_rename};
use cifar_repro::audit::{ParsedFile, UnparsedClaim};
use std::path::Path;

/// What the printed verdicts say of claim `id`: its table row and its reason line (the
/// lines that start with the id), joined.
fn verdict_line(stdout: &str, id: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{id} ")))
        .collect::<Vec<_>>()
        .join(" ")
}

const TINY: &str =
    "overrides = { loop = { epochs = 1, train_limit = 96, batch_size = 32, threads = 1 } }";

#[test]
fn the_shipped_claim_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/claims");
    for name in ["report.toml", "quickstart.toml"] {
        let file = ParsedFile::read(&root.join(name)).unwrap();
        assert!(
            file.claims.iter().all(Result::is_ok),
            "{name}: {:?}",
            file.claims.iter().find(|c| c.is_err())
        );
    }
    let report = ParsedFile::read(&root.join("report.toml")).unwrap();
    assert!(report.claims.len() >= 18);
}

#[test]
fn bad_claims_name_their_line_and_the_others_go_on() {
    let text = "seed = 1\nmargin = 0.02\n[[claim]]\nid = \"ok\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\n\n[[claim]]\nid = \"no-metric\"\nsentence = \"s\"\nrun = \"quickstart\"\nvalue = 0.5\n\n[[claim]]\nid = \"typo\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalu = 0.5\n";
    let file = ParsedFile::parse(text).unwrap();
    assert!(file.claims[0].is_ok());
    let UnparsedClaim { id, why } = file.claims[1].clone().unwrap_err();
    assert_eq!(id, "no-metric");
    assert!(why.contains("line 10") && why.contains("metric"), "{why}");
    let UnparsedClaim { why, .. } = file.claims[2].clone().unwrap_err();
    assert!(why.contains("line 16") && why.contains("valu"), "{why}");
    let malformed = ParsedFile::parse("[[claim]]\nid = \n")
        .unwrap_err()
        .to_string();
    assert!(malformed.contains("line 2"), "{malformed}");
    let unknown = ParsedFile::parse("sead = 1\n[[claim]]\nid=\"a\"\n")
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("sead"), "{unknown}");
}

#[test]
fn a_two_claim_audit_runs_end_to_end_and_reuses_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("two.toml");
    std::fs::write(
        &claims,
        format!(
            "seed = 5\nmargin = 0.05\n[[claim]]\nid = \"acc\"\nsentence = \"about chance\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 0.12\nmargin = 0.5\n\n[[claim]]\nid = \"impossible\"\nsentence = \"perfect\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 1.0\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("audit");
    let data = golden_data();
    let args = [
        "audit",
        claims.to_str().unwrap(),
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let first = cli(&args);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a NOT REPRODUCED claim exits 1: {stdout}"
    );
    assert!(
        stdout.contains("impossible") && stdout.contains("NOT REPRODUCED"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    assert_eq!(json["claims"][0]["summary"]["n"], 2);
    assert_eq!(json["claims"][1]["verdict"], "NOT_REPRODUCED");
    assert!(out.join("audit.md").is_file() && out.join("audit.html").is_file());
    let again = cli(&args);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("reusing finished run") && !stderr.contains("training"),
        "{stderr}"
    );
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    assert!(rewritten == json, "the re-audit changed audit.json");
}

#[test]
fn missing_requirements_are_not_run_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("needs.toml");
    std::fs::write(
        &claims,
        format!(
            "margin = 0.05\n[[claim]]\nid = \"gpu\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\nrequires = {{ cuda = true }}\n\n[[claim]]\nid = \"full\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\nrequires = {{ full_data = true }}\n\n[[claim]]\nid = \"preset\"\nsentence = \"s\"\nrun = \"e42\"\nmetric = \"accuracy\"\nvalue = 0.5\n\n[[claim]]\nid = \"domain\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 2.5\n\n[[claim]]\nid = \"runs\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 0.1\nmargin = 1.0\n"
        ),
    )
    .unwrap();
    let out = cli(&[
        "audit",
        claims.to_str().unwrap(),
        "--seeds",
        "2",
        "--out",
        dir.path().join("a").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The unknown preset and the value outside its domain are errors in the claim file:
    // exit 2, after the other claims went on.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |id: &str| verdict_line(&stdout, id);
    if !tch::Cuda::is_available() {
        assert!(
            line("gpu").contains("NOT RUN") && line("gpu").contains("needs CUDA"),
            "{stdout}"
        );
    }
    assert!(
        line("full").contains("NOT RUN") && line("full").contains("cifar-repro data fetch"),
        "{stdout}"
    );
    assert!(
        line("preset").contains("NOT RUN") && line("preset").contains("unknown preset"),
        "{stdout}"
    );
    assert!(
        line("domain").contains("NOT RUN")
            && line("domain").contains("outside the domain of accuracy"),
        "{stdout}"
    );
    assert!(!line("runs").contains("NOT RUN"), "{stdout}");
}

#[test]
fn zero_seeds_are_refused() {
    let out = cli(&["audit", "golden/claims/quickstart.toml", "--seeds", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 is not in 1..=10000"), "{stderr}");
}

#[test]
fn an_unreadable_claim_file_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("broken.toml");
    std::fs::write(&claims, "[[claim]\n").unwrap();
    assert_one_line_error(
        &cli(&[
            "audit",
            claims.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ]),
        &["broken.toml", "line 1"],
    );
}

/// The audit folders' run keys (`runs/KEY` with a finished manifest).
fn run_keys(out: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(out.join("runs"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn merged_shards_equal_the_unsharded_audit() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("grid.toml");
    let smaller =
        "overrides = { loop = { epochs = 1, train_limit = 96, batch_size = 16, threads = 1 } }";
    std::fs::write(
        &claims,
        format!(
            "seed = 3\nmargin = 0.05\n[[claim]]\nid = \"acc\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 0.12\nmargin = 0.5\n\n[[claim]]\nid = \"batch\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nrelation = \"less\"\nthan = {{ run = \"quickstart\", {smaller} }}\n"
        ),
    )
    .unwrap();
    let data = golden_data();
    let args = |out: &Path, extra: &[&str]| {
        let mut args = vec!["audit", claims.to_str().unwrap(), "--seeds", "2"];
        args.extend([
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let audit = |out: &Path, extra: &[&str]| {
        cli(&args(out, extra)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>())
    };
    let whole = dir.path().join("whole");
    audit(&whole, &[]);
    let shards: Vec<_> = (0..2)
        .map(|i| dir.path().join(format!("shard{i}")))
        .collect();
    let succeeds = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    succeeds(audit(&shards[0], &["--shard", "0/2"]));
    // Shard 1 killed inside its first run: merge refuses, naming the runs it left undone;
    // running that shard again completes it.
    killed_before_rename(&args(&shards[1], &["--shard", "1/2"]), "manifest.json@2");
    let refused = cli(&[
        "audit",
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        dir.path().join("refused").to_str().unwrap(),
    ]);
    assert_one_line_error(
        &refused,
        &["shard 1/2 did not finish 2 of its 2 runs", "runs/"],
    );
    succeeds(audit(&shards[1], &["--shard", "1/2"]));
    let (a, b) = (run_keys(&shards[0]), run_keys(&shards[1]));
    assert!(
        a.is_disjoint(&b),
        "shards trained the same run: {a:?} {b:?}"
    );
    assert_eq!(a.len() + b.len(), 4, "2 configs x 2 seeds");
    assert_eq!(
        a.union(&b)
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        run_keys(&whole)
    );

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
        !String::from_utf8_lossy(&out.stderr).contains("training"),
        "merge trained"
    );
    for file in ["audit.json", "audit.md"] {
        assert_eq!(
            std::fs::read_to_string(merged.join(file)).unwrap(),
            std::fs::read_to_string(whole.join(file)).unwrap(),
            "{file} differs between the merged shards and the whole audit"
        );
    }

    let alone = cli(&["audit", "merge", shards[0].to_str().unwrap()]);
    assert_one_line_error(&alone, &["shard 1/2 missing"]);
    let bad = audit(&dir.path().join("x"), &["--shard", "2/2"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("0 <= I < N"));
}

#[test]
fn an_audit_killed_mid_run_or_mid_write_re_audits_to_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("one.toml");
    std::fs::write(
        &claims,
        format!(
            "seed = 9\n[[claim]]\nid = \"acc\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 0.12\nmargin = 0.5\n"
        ),
    )
    .unwrap();
    let data = golden_data();
    let args = |out: &Path| -> Vec<String> {
        [
            "audit",
            claims.to_str().unwrap(),
            "--seeds",
            "2",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let whole = dir.path().join("whole");
    assert!(
        cli(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .success()
    );

    // Killed while writing its verdicts (the runs are done), and killed inside its second
    // run's second checkpoint write.
    for (name, point) in [("verdicts", "audit.json"), ("run", "epoch-0001@2")] {
        let out = dir.path().join(name);
        killed_before_rename(&args(&out), point);
        assert!(
            !out.join("audit.json").exists(),
            "{point}: verdicts written"
        );
        let again = cli(&args(&out).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(out.join("audit.json")).unwrap(),
            std::fs::read_to_string(whole.join("audit.json")).unwrap(),
            "{point}: the re-audit differs from the uninterrupted audit"
        );
    }
}

/// Writes `claims` and `csv` into `dir` and audits the values of the CSV.
fn audit_results(dir: &Path, claims: &str, csv: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("claims.toml"), claims).unwrap();
    std::fs::write(dir.join("values.csv"), csv).unwrap();
    let mut args = vec![
        "audit".to_owned(),
        dir.join("claims.toml").display().to_string(),
        "--results".to_owned(),
        dir.join("values.csv").display().to_string(),
        "--out".to_owned(),
        dir.join("audit").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

const RESULTS_CLAIMS: &str = "source = \"numbers from elsewhere\"\nmargin = 0.02\n\n[[claim]]\nid = \"close\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.70\n\n[[claim]]\nid = \"far\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.50\n\n[[claim]]\nid = \"better\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nrelation = \"greater\"\nthan = { run = \"quickstart\" }\n\n[[claim]]\nid = \"diverged\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"loss\"\nvalue = 1.0\nmargin = 0.1\n";

#[test]
fn an_audit_of_values_from_anywhere_gives_verdicts_without_training() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "claim,seed,value,than\n\
        close,1,0.701,\nclose,2,0.699,\nclose,3,0.700,\nclose,4,0.702,\nclose,5,0.698,\n\
        far,1,0.701,\nfar,2,0.699,\nfar,3,0.700,\n\
        better,1,0.70,0.70\nbetter,2,0.71,0.70\nbetter,3,0.69,0.70\nbetter,4,0.70,0.71\nbetter,5,0.70,0.69\nbetter,6,0.70,0.70\n\
        diverged,1,0.9,\ndiverged,2,nan,\ndiverged,3,inf,\n";
    let out = audit_results(dir.path(), RESULTS_CLAIMS, csv, &["--adjust", "none"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !dir.path().join("audit/runs").exists(),
        "nothing is trained"
    );
    let line = |id: &str| verdict_line(&stdout, id);
    assert!(line("close").contains(" REPRODUCED"), "{stdout}");
    assert!(line("far").contains("NOT REPRODUCED"), "{stdout}");
    // No effect at all: "greater" is shown wrong, not left inconclusive.
    assert!(line("better").contains("NOT REPRODUCED"), "{stdout}");
    assert!(
        line("diverged").contains("NOT RUN")
            && line("diverged").contains("2 of 3 seeds failed")
            && line("diverged").contains("diverged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("alpha 0.05") && stdout.contains("no multiplicity adjustment"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("audit/audit.json")).unwrap())
            .unwrap();
    assert_eq!(json["claims"][0]["id"], "close");
    assert_eq!(json["claims"][0]["verdict"], "REPRODUCED");
    assert_eq!(json["settings"]["adjust"], "none");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a claim with more failed seeds than allowed could not be judged: exit 2"
    );
    let html = std::fs::read_to_string(dir.path().join("audit/audit.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("in margins"),
        "the forest plot leads"
    );
    // A real table, and every claim with seeds gets its strip plot.
    assert!(html.contains("<table") && html.contains("<thead"));
    assert_eq!(html.matches("<div class=\"claim\"").count(), 4);
    assert_eq!(
        html.matches("each seed's").count(),
        4,
        "every claim with a seed's value"
    );
    // What an auditor asks next, in every output.
    let md = std::fs::read_to_string(dir.path().join("audit/audit.md")).unwrap();
    assert!(
        md.contains("percentile of the seeds") && md.contains("P(the claimed way)"),
        "{md}"
    );
    assert!(
        json["claims"][2]["superiority"]["decision"]
            .as_str()
            .unwrap()
            .contains("not significant")
    );
    assert!(json["claims"][0]["placement"]["predictive_percentile"].is_number());
    assert!(stdout.contains("2 of 3 seeds failed"));
}

#[test]
fn one_diverged_seed_is_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let csv =
        "claim,seed,value\ndiverged,1,1.0,\ndiverged,2,nan\ndiverged,3,1.01\ndiverged,4,0.99\n";
    let csv = csv.replace(",\n", "\n");
    let out = audit_results(dir.path(), RESULTS_CLAIMS, &csv, &["--only", "diverged"]);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("audit/audit.json")).unwrap())
            .unwrap();
    let claim = &json["claims"][0];
    assert_eq!(
        claim["dropped_seeds"],
        serde_json::json!([1]),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(claim["summary"]["n"], 3);
    assert_ne!(claim["verdict"], "NOT_RUN");
}

#[test]
fn bad_results_files_and_claims_without_a_margin_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = audit_results(
        dir.path(),
        RESULTS_CLAIMS,
        "claim,seed,value\nclose,1,zero\n",
        &[],
    );
    assert_one_line_error(&out, &["values.csv, line 2", "\"zero\" is not a number"]);
    let out = audit_results(dir.path(), RESULTS_CLAIMS, "claim,value\n", &[]);
    assert_one_line_error(&out, &["line 1", "claim,seed,value"]);
    let file = ParsedFile::parse("[[claim]]\nid = \"m\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\n").unwrap();
    let UnparsedClaim { why, .. } = file.claims[0].clone().unwrap_err();
    assert!(
        why.contains("margin") && why.contains("smallest difference that matters"),
        "{why}"
    );
    let file = ParsedFile::parse("margin = 0.1\n[[claim]]\nid = \"r\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\nruns = 3\n").unwrap();
    let UnparsedClaim { why, .. } = file.claims[0].clone().unwrap_err();
    assert!(why.contains("needs `spread`"), "{why}");
}

#[test]
fn interpretations_become_one_claim_per_reading_with_the_reading_in_both_runs() {
    let text = "margin = 0.02\n[[claim]]\nid = \"gap\"\nsentence = \"s\"\nrun = \"e2-regularised\"\nmetric = \"train_test_gap\"\nrelation = \"less\"\nthan = { run = \"e1-baseline\" }\ninterpretations = { \"model.stem\" = [\"imagenet\", \"cifar\"], \"loop.batch_size\" = [512] }\n";
    let file = ParsedFile::parse(text).unwrap();
    let ids: Vec<String> = file
        .claims
        .iter()
        .map(|c| c.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "gap [loop.batch_size=512, model.stem=imagenet]",
            "gap [loop.batch_size=512, model.stem=cifar]"
        ]
    );
    let cifar = file.claims[1].as_ref().unwrap();
    for spec in [&cifar.run, cifar.than.as_ref().unwrap()] {
        let config = spec.resolve(Path::new(".")).unwrap().config;
        assert_eq!(config.model.stem, cifar_repro::model::Stem::Cifar);
        assert_eq!(config.loop_.batch_size, 512);
    }
    let bad = ParsedFile::parse("margin = 0.02\n[[claim]]\nid = \"x\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\ninterpretations = { \"model.stem\" = \"cifar\" }\n").unwrap();
    let UnparsedClaim { why, .. } = bad.claims[0].clone().unwrap_err();
    assert!(why.contains("non-empty list"), "{why}");
}

#[test]
fn the_plan_lists_each_distinct_run_once_marks_reused_ones_and_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("plan.toml");
    let smaller =
        "overrides = { loop = { epochs = 1, train_limit = 64, batch_size = 32, threads = 1 } }";
    std::fs::write(
        &claims,
        format!(
            "seed = 5\nmargin = 0.05\n[[claim]]\nid = \"acc\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nvalue = 0.12\nmargin = 0.5\n\n[[claim]]\nid = \"f1\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"macro_f1\"\nvalue = 0.1\nmargin = 0.5\n\n[[claim]]\nid = \"batch\"\nsentence = \"s\"\nrun = \"quickstart\"\n{TINY}\nmetric = \"accuracy\"\nrelation = \"less\"\nthan = {{ run = \"quickstart\", {smaller} }}\n\n[[claim]]\nid = \"gpu\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.5\nrequires = {{ cuda = true }}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("audit");
    let data = golden_data();
    let args = |seeds: &'static str, plan: bool| {
        let mut args = vec![
            "audit".to_owned(),
            claims.display().to_string(),
            "--seeds".into(),
            seeds.into(),
            "--out".into(),
            out.display().to_string(),
            "--data".into(),
            data.display().to_string(),
        ];
        if plan {
            args.push("--plan".into());
        }
        args
    };
    let run = |args: Vec<String>| {
        let output = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Two configs (the claims share one) x 2 seeds; the CUDA claim cannot run here.
    let before = run(args("2", true));
    assert!(
        before.contains("4 distinct runs for 2 seeds (0 finished"),
        "{before}"
    );
    assert!(before.contains("acc, f1, batch"), "{before}");
    assert!(before.contains("not run: gpu: needs CUDA"), "{before}");
    assert!(before.contains("estimated time to train:"), "{before}");
    assert!(!out.join("runs").exists(), "the plan trained");
    // One seed trained for real: its two runs are reused, the second seed's are not.
    run(args("1", false));
    let after = run(args("2", true));
    assert!(
        after.contains("4 distinct runs for 2 seeds (2 finished"),
        "{after}"
    );
    assert_eq!(after.matches("reused  ").count(), 2, "{after}");
}

/// The (lo, hi) of every "a to b" interval in `text`.
fn intervals_in(text: &str) -> Vec<(f64, f64)> {
    let re = regex::Regex::new(r"([+-]\d+\.\d+) to ([+-]\d+\.\d+)").unwrap();
    re.captures_iter(text)
        .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
        .collect()
}

#[test]
fn no_page_shows_an_interval_that_contradicts_its_verdict() {
    // A claim of 0.60 against seeds near 0.08 (margin 0.05): far off, but 2 seeds are too
    // few to show it, so INCONCLUSIVE; its (1 - 2α) interval lies wholly outside the
    // margin, which a reader takes for NOT REPRODUCED, so no page may show that one.
    let claims = "margin = 0.05\n\n[[claim]]\nid = \"far-off\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.60\n";
    let dir = tempfile::tempdir().unwrap();
    let out = audit_results(
        dir.path(),
        claims,
        "claim,seed,value\nfar-off,1,0.05\nfar-off,2,0.11\n",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("audit/audit.json")).unwrap())
            .unwrap();
    let claim = &json["claims"][0];
    assert_eq!(claim["verdict"], "INCONCLUSIVE", "{claim}");
    let md = std::fs::read_to_string(dir.path().join("audit/audit.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("audit/audit.html")).unwrap();
    let table_row = |text: &str| {
        text.lines()
            .find(|l| l.contains("far-off"))
            .unwrap_or("")
            .to_owned()
    };
    let json_interval = (
        claim["interval"][0].as_f64().unwrap(),
        claim["interval"][1].as_f64().unwrap(),
    );
    let shown = [
        ("json", vec![json_interval]),
        ("terminal", intervals_in(&table_row(&stdout))),
        ("md", intervals_in(&table_row(&md))),
        (
            "html",
            intervals_in(&table_row(
                &html[html.find("<table").unwrap()..html.find("</table>").unwrap()],
            )),
        ),
    ];
    let margin = 0.05;
    for (page, intervals) in shown {
        assert!(!intervals.is_empty(), "{page} shows no interval");
        for (lo, hi) in intervals {
            let difference = lo - 0.6;
            let inside = -margin <= lo && hi <= margin;
            let outside = hi < -margin || lo > margin;
            assert!(
                !inside && !outside,
                "{page}: {lo} to {hi} reads as decided ({difference})"
            );
        }
    }
    let why = claim["why"].as_str().unwrap();
    assert!(
        why.contains("too few for a difference this size: 2 seeds, t(0.975, 1) = 12.71"),
        "{why}"
    );
}

#[test]
fn every_audit_page_says_where_and_with_what_it_ran() {
    let claims = "margin = 0.05\n\n[[claim]]\nid = \"c\"\nsentence = \"s\"\nrun = \"quickstart\"\nmetric = \"accuracy\"\nvalue = 0.3\n";
    let dir = tempfile::tempdir().unwrap();
    audit_results(
        dir.path(),
        claims,
        "claim,seed,value\nc,1,0.30\nc,2,0.31\n",
        &[],
    );
    let sha = cifar_repro::hash::sha256_file(&dir.path().join("claims.toml")).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("audit/audit.json")).unwrap())
            .unwrap();
    let provenance = &json["settings"]["provenance"];
    assert_eq!(
        provenance["claim_file_sha256"],
        sha.as_str(),
        "{provenance}"
    );
    assert_eq!(provenance["cifar_repro"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        provenance["commit"],
        cifar_repro::audit::output::BUILD_COMMIT
    );
    assert!(
        provenance["libtorch"].as_str().unwrap().starts_with("2.11"),
        "{provenance}"
    );
    let class = provenance["numerics_class"].as_str().unwrap();
    assert!(class.contains("-t1-"), "{class}");
    for page in ["audit.html", "audit.md"] {
        let text = std::fs::read_to_string(dir.path().join("audit").join(page)).unwrap();
        for needle in [
            sha.as_str(),
            class,
            cifar_repro::audit::output::BUILD_COMMIT,
        ] {
            assert!(text.contains(needle), "{page} lacks {needle}");
        }
    }
}
