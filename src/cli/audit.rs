//! `cifar-repro audit CLAIMS.toml`, its shards (`--shard I/N`), its rehearsal
//! (`--rehearse`) and `audit merge`.

use super::common::{Console, pick_device};
use anyhow::{Context, bail};
use cifar_repro::audit::output::Settings;
use cifar_repro::audit::rehearse::{SmokeScale, StandIns, vendored_data};
use cifar_repro::audit::shard::{self, ShardRecord};
use cifar_repro::audit::{
    Adjust, Audit, AuditObserver, AuditOptions, ClaimResult, Decision, Mode, ParsedFile, Results,
    Training, Verdict,
};
use cifar_repro::config::DeviceChoice;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// A claim file (see golden/claims/ and docs/audit.md).
    #[arg(required = true)]
    claims: Option<PathBuf>,
    /// CIFAR-10 folder or .tar.gz for every run (default: each run config's own).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Runs per claim, seeded from the claim file's seed tree (with --rehearse: the seeds
    /// of the full-scale plan printed after it; the rehearsal itself uses 2).
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    seeds: usize,
    /// Only these claim ids (comma-separated; an id with interpretations selects all its
    /// readings).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Audit folder: runs/, audit.json, audit.md, audit.html [default: audits/NAME, or
    /// audits/NAME-rehearsal with --rehearse].
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Train only part I of N (0 <= I < N) of the runs the audit needs (whole chains of
    /// two-stage runs), into --out, and record them in shard.json; `audit merge` then
    /// gives the verdicts.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with_all = ["results", "rehearse"])]
    shard: Option<(usize, usize)>,
    /// Judge per-seed values from a CSV instead of training: columns claim,seed,value and,
    /// for relative claims, than (the compared run's value for the same seed). Runs from
    /// PyTorch, W&B or MLflow then get the same verdicts.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "rehearse")]
    results: Option<PathBuf>,
    /// Train nothing: list the runs the audit needs (distinct configs x seeds, finished
    /// ones marked as reused, two-stage runs after the run they start from) and estimate
    /// their time here from a few timed steps of each distinct model, size and setting.
    #[arg(long, conflicts_with_all = ["shard", "results"])]
    plan: bool,
    /// Run every claim's whole path at smoke scale (2 seeds, at most 2 epochs of one step
    /// at batch 4, 16 test images), with the full-data, CUDA and memory requirements
    /// waived, stand-in weights where the real ones are absent and the vendored data
    /// where the file's is absent. Every claim comes out REHEARSED or FAILED (naming the
    /// step); exit 1 when any FAILED. Then the full-scale plan's estimate.
    #[arg(long, conflicts_with = "plan")]
    rehearse: bool,
    #[command(flatten)]
    decision: DecisionArgs,
}

/// How verdicts are decided.
#[derive(Args, Clone, Copy)]
struct DecisionArgs {
    /// The level of each decision: REPRODUCED and NOT REPRODUCED are each wrong at most
    /// this often (before the adjustment below).
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    alpha: f64,
    /// holm: Holm's step-down across the file's claims, so that any wrong decisive verdict
    /// in the file happens at most alpha of the time; none: each claim at alpha.
    #[arg(long, value_enum, default_value_t = Adjust::Holm)]
    adjust: Adjust,
}

impl DecisionArgs {
    fn decision(self) -> Decision {
        Decision {
            alpha: self.alpha,
            adjust: self.adjust,
        }
    }
}

fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(a) if a > 0.0 && a < 0.5 => Ok(a),
        _ => Err(format!("{text:?} is not a level in (0, 0.5), e.g. 0.05")),
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Combine the folders of every shard of one audit (`audit --shard I/N`) into one
    /// audit folder and give the verdicts, exactly as a single-machine audit would.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The shards' audit folders, one per shard.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The merged audit folder [default: audits/NAME].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    decision: DecisionArgs,
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((i, n)) if i < n && n <= 100_000 => Ok((i, n)),
        _ => Err(format!(
            "{text:?} is not I/N with 0 <= I < N <= 100000 (e.g. 0/4 for the first of four)"
        )),
    }
}

impl AuditObserver for Console {
    fn run(&mut self, claim: &str, seed_index: usize, folder: &Path, reused: bool) {
        let what = if reused {
            "reusing finished run"
        } else {
            "training"
        };
        tracing::info!(
            "{claim}: seed {}: {what} {}",
            seed_index + 1,
            folder.display()
        );
    }
}

fn default_out(claims: &Path, suffix: &str) -> PathBuf {
    let name = claims
        .file_stem()
        .map_or("audit".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("audits").join(format!("{name}{suffix}"))
}

fn create(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the audit folder {}", out.display()))
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    if let Some(AuditCommand::Merge(merge_args)) = args.command {
        return merge(merge_args, args.device);
    }
    let Some(claims) = args.claims.clone() else {
        bail!("give a claim file, or `audit merge DIR...`");
    };
    let file = ParsedFile::read(&claims)?;
    let suffix = if args.rehearse { "-rehearsal" } else { "" };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&claims, suffix));
    let results_file = args.results.as_deref().map(Results::read).transpose()?;
    if let Some(results) = &results_file {
        results.check_ids(&file)?;
    }
    let options = options(&args, &file, out.clone(), results_file)?;
    let mut audit = Audit::new(&file, &options);
    let unknown = audit.unknown_ids();
    if !unknown.is_empty() {
        bail!(
            "--only: {} is not a claim id of {}; nothing was audited",
            unknown.join(", "),
            claims.display()
        );
    }
    if args.plan {
        return print_plan(&claims, &mut audit, &options);
    }
    create(&out)?;
    let _lock = cifar_repro::fsutil::lock_folder(&out)?;
    // A shard's record is written first too, so that a shard killed midway names the runs
    // it left undone.
    let record = match args.shard {
        Some(shard) => {
            let record = ShardRecord::start(&claims, &options, &audit, shard)?;
            record.write(&options.out)?;
            Some(record)
        }
        None => None,
    };
    let results = audit.run(&mut Console::new("  "));
    if let Some(record) = record {
        return finish_shard(record, &options);
    }
    let code = finish(
        &out,
        &results,
        settings(&file, &options, args.results.as_deref()),
    )?;
    if args.rehearse {
        full_scale_plan(&claims, &file, &args, &options)?;
    }
    Ok(code)
}

/// The audit's options from the command line: the device, which runs this process may
/// train, and for a rehearsal its scale, stand-ins and data.
fn options(
    args: &AuditArgs,
    file: &ParsedFile,
    out: PathBuf,
    results: Option<Results>,
) -> anyhow::Result<AuditOptions> {
    let device = match &results {
        Some(_) => tch::Device::Cpu,
        None => pick_device(args.device)?,
    };
    let mode = match args.rehearse {
        true => Mode::Rehearsal {
            scale: SmokeScale::default(),
            stand_ins: StandIns::new(&out.join("stand-ins")),
            data: vendored_data(&file.base_dir),
        },
        false => Mode::Real,
    };
    Ok(AuditOptions {
        data: args.data.clone(),
        seeds: if args.rehearse { 2 } else { args.seeds },
        only: args.only.clone(),
        out,
        device,
        training: match (args.shard, &results) {
            (Some((index, count)), _) => Training::Shard { index, count },
            (None, Some(_)) => Training::MergeOnly,
            (None, None) => Training::All,
        },
        decision: args.decision.decision(),
        results,
        hooks: super::hooks::training(),
        mode,
    })
}

/// After a rehearsal: the plan of the real audit at full scale (the file's data taken to
/// be the full set where absent, requirements waived) and its time here, and on CUDA when
/// libtorch sees a GPU.
fn full_scale_plan(
    claims: &Path,
    file: &ParsedFile,
    args: &AuditArgs,
    rehearsal: &AuditOptions,
) -> anyhow::Result<()> {
    let full = |device| AuditOptions {
        seeds: args.seeds,
        device,
        training: Training::MergeOnly,
        mode: Mode::Estimate,
        out: default_out(claims, ""),
        results: None,
        data: args.data.clone(),
        only: args.only.clone(),
        decision: rehearsal.decision,
        hooks: super::hooks::training(),
    };
    let mut devices = vec![tch::Device::Cpu];
    if tch::Cuda::is_available() {
        devices.push(tch::Device::Cuda(0));
    }
    println!(
        "\nthe real audit at full scale ({} seeds per run):",
        args.seeds
    );
    for device in devices {
        let options = full(device);
        let plan = Audit::new(file, &options).plan();
        let estimate = plan.estimate(device, super::plan::PLAN_STEPS)?;
        println!(
            "  {} distinct runs; estimated {} on {device:?} ({:.1} device-hours)",
            plan.runs.len(),
            super::plan::duration(estimate.total_seconds()),
            estimate.total_seconds() / 3600.0
        );
    }
    if !tch::Cuda::is_available() {
        println!(
            "  no CUDA device here: run the rehearsal on a GPU machine for its estimate (ci/gpu.sh)"
        );
    }
    Ok(())
}

fn print_plan(
    claims: &Path,
    audit: &mut Audit,
    options: &AuditOptions,
) -> anyhow::Result<ExitCode> {
    let plan = audit.plan();
    super::plan::print(claims, &plan, options)?;
    Ok(ExitCode::SUCCESS)
}

/// Records what a shard finished and says what comes next; fails when one of its runs
/// did not finish.
fn finish_shard(mut record: ShardRecord, options: &AuditOptions) -> anyhow::Result<ExitCode> {
    record.note_finished(&options.out);
    record.write(&options.out)?;
    let (index, count) = (record.index, record.count);
    println!(
        "shard {index}/{count}: {} of its {} runs finished in {}; when every shard is done: cifar-repro audit merge DIR... --out OUT",
        record.runs.len(),
        record.planned.len(),
        options.out.display()
    );
    let unfinished = record.unfinished().len();
    if unfinished > 0 {
        bail!(
            "shard {index}/{count}: {unfinished} of its runs did not finish (see above); run the shard again to finish them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn merge(args: MergeArgs, device: DeviceChoice) -> anyhow::Result<ExitCode> {
    let first_claims = ShardRecord::read(&args.shards[0])?.claims;
    let out = args.out.unwrap_or_else(|| default_out(&first_claims, ""));
    create(&out)?;
    let _lock = cifar_repro::fsutil::lock_folder(&out)?;
    let (first, copied) = shard::merge(&args.shards, &out)?;
    for (dir, n) in args.shards.iter().zip(copied) {
        tracing::info!("{n} runs copied from {}", dir.display());
    }
    let file = ParsedFile::read(&first.claims)?;
    let options = AuditOptions {
        data: first.data.clone(),
        seeds: first.seeds,
        only: first.only.clone(),
        out: out.clone(),
        device: pick_device(device)?,
        training: Training::MergeOnly,
        decision: args.decision.decision(),
        results: None,
        hooks: super::hooks::training(),
        mode: Mode::Real,
    };
    let results = Audit::new(&file, &options).run(&mut Console::new("  "));
    finish(&out, &results, settings(&file, &options, None))
}

/// What the audit's files record about how it was decided.
fn settings(file: &ParsedFile, options: &AuditOptions, results: Option<&Path>) -> Settings {
    Settings {
        source: file.source.clone(),
        seeds: results.is_none().then_some(options.seeds),
        results: results.map(|p| p.display().to_string()),
        alpha: options.decision.alpha,
        adjust: options.decision.adjust,
        rehearsal: match &options.mode {
            Mode::Rehearsal { scale, .. } => Some(scale.describe()),
            _ => None,
        },
    }
}

/// Prints the verdicts, then writes the audit's files. Exit 2 when a claim could not be
/// judged because something is wrong (a bad claim, unreadable data, a run that failed: not
/// a requirement this machine lacks), else 1 when a claim is NOT REPRODUCED or FAILED.
fn finish(out: &Path, results: &[ClaimResult], settings: Settings) -> anyhow::Result<ExitCode> {
    println!("{}", settings.describe());
    print!("{}", cifar_repro::audit::output::table(results));
    cifar_repro::audit::output::write(out, results, &settings)?;
    println!(
        "written: {0}/audit.json, {0}/audit.md, {0}/audit.html",
        out.display()
    );
    let broken = settings.rehearsal.is_none() && results.iter().any(|r| r.broken);
    let failed = results.iter().any(|r| {
        matches!(
            r.verdict,
            Verdict::NotReproduced { .. } | Verdict::Failed { .. }
        )
    });
    Ok(match (broken, failed) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::FAILURE,
        (false, false) => ExitCode::SUCCESS,
    })
}
