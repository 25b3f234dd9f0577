//! `cifar-repro audit CLAIMS.toml`, its shards (`--shard I/N`) and `audit merge`.

use super::train::{Console, pick_device};
use anyhow::{Context, bail};
use cifar_repro::audit::output::Settings;
use cifar_repro::audit::shard::{self, ShardRecord};
use cifar_repro::audit::{
    self, Adjust, AuditObserver, AuditOptions, ParsedFile, Results, Training, Verdict,
};
use cifar_repro::config::DeviceChoice;
use cifar_repro::hash::sha256_hex;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// A claim file (see golden/claims/ and the README's "Claim files").
    #[arg(required = true)]
    claims: Option<PathBuf>,
    /// CIFAR-10 folder or .tar.gz for every run (default: each run config's own).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Runs per claim, seeded from the claim file's seed tree.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    seeds: usize,
    /// Only these claim ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Audit folder: runs/, audit.json, audit.md, audit.html [default: audits/NAME].
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Train only part I of N (0 <= I < N) of the runs the audit needs, into --out, and
    /// record them in shard.json; `audit merge` then gives the verdicts.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with = "results")]
    shard: Option<(usize, usize)>,
    /// Judge per-seed values from a CSV instead of training: columns claim,seed,value and,
    /// for relative claims, than (the compared run's value for the same seed). Runs from
    /// PyTorch, W&B or MLflow then get the same verdicts.
    #[arg(long, value_name = "FILE.csv")]
    results: Option<PathBuf>,
    /// Train nothing: list the runs the audit needs (distinct configs x seeds, finished
    /// ones marked as reused) and estimate their time on this machine from a few timed
    /// steps of each distinct model, size and setting.
    #[arg(long, conflicts_with_all = ["shard", "results"])]
    plan: bool,
    #[command(flatten)]
    decision: Decision,
}

/// How verdicts are decided.
#[derive(Args, Clone, Copy)]
struct Decision {
    /// The level of each decision: REPRODUCED and NOT REPRODUCED are each wrong at most
    /// this often (before the adjustment below).
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    alpha: f64,
    /// holm: Holm's step-down across the file's claims, so that any wrong decisive verdict
    /// in the file happens at most alpha of the time; none: each claim at alpha.
    #[arg(long, default_value = "holm", value_parser = parse_adjust)]
    adjust: Adjust,
}

fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(a) if a > 0.0 && a < 0.5 => Ok(a),
        _ => Err(format!("{text:?} is not a level in (0, 0.5), e.g. 0.05")),
    }
}

fn parse_adjust(text: &str) -> Result<Adjust, String> {
    match text {
        "holm" => Ok(Adjust::Holm),
        "none" => Ok(Adjust::None),
        _ => Err(format!("{text:?}: use holm or none")),
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
    decision: Decision,
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((i, n)) if i < n => Ok((i, n)),
        _ => Err(format!(
            "{text:?} is not I/N with 0 <= I < N (e.g. 0/4 for the first of four)"
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

fn base_dir(claims: &Path) -> PathBuf {
    claims
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn default_out(claims: &Path) -> PathBuf {
    let name = claims
        .file_stem()
        .map_or("audit".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("audits").join(name)
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
    let out = args.out.clone().unwrap_or_else(|| default_out(&claims));
    create(&out)?;
    let results_file = args.results.as_deref().map(Results::read).transpose()?;
    let options = AuditOptions {
        data: args.data.clone(),
        seeds: args.seeds,
        only: args.only.clone(),
        out: out.clone(),
        device: if results_file.is_some() {
            tch::Device::Cpu
        } else {
            pick_device(args.device)?
        },
        training: match (args.shard, &results_file) {
            (Some((index, count)), _) => Training::Shard { index, count },
            (None, Some(_)) => Training::None,
            (None, None) => Training::All,
        },
        alpha: args.decision.alpha,
        adjust: args.decision.adjust,
        results: results_file,
        hooks: super::hooks::training(),
    };
    if args.plan {
        return print_plan(&claims, &file, &options);
    }
    // A shard's record is written first too, so that a shard killed midway names the runs
    // it left undone.
    let record = args
        .shard
        .map(|shard| start_shard(&claims, &options, &file, shard))
        .transpose()?;
    let results = audit::audit(&file, &base_dir(&claims), &options, &mut Console::new("  "));
    match record {
        Some(record) => finish_shard(record, &options),
        None => finish(
            &out,
            &results,
            settings(&file, &options, args.results.as_deref()),
        ),
    }
}

/// Steps timed per distinct kind of run for `--plan` (after one untimed).
const PLAN_STEPS: usize = 3;

/// `audit --plan`: the runs, which are reused, and the estimated time of the rest.
fn print_plan(
    claims: &Path,
    file: &ParsedFile,
    options: &AuditOptions,
) -> anyhow::Result<ExitCode> {
    let plan = audit::plan(file, &base_dir(claims), options);
    tracing::info!("timing {PLAN_STEPS} steps of each distinct kind of run to train...");
    let estimate = plan.estimate(options.device, PLAN_STEPS)?;
    let reused = plan.runs.iter().filter(|r| r.finished).count();
    println!(
        "{}: {} distinct runs for {} seeds ({reused} finished in {} and reused, {} to train)",
        claims.display(),
        plan.runs.len(),
        options.seeds,
        options.out.display(),
        plan.runs.len() - reused
    );
    println!(
        "{:<22} {:>4} {:>6} {:>10}  claims",
        "run", "seed", "steps", "estimate"
    );
    for (run, seconds) in plan.runs.iter().zip(&estimate.run_seconds) {
        let time = match run.finished {
            true => "reused".to_owned(),
            false => duration(*seconds),
        };
        println!(
            "{:<22} {:>4} {:>6} {:>10}  {}",
            run.folder.display(),
            run.seed_index,
            run.steps,
            time,
            run.claims.join(", ")
        );
    }
    for (id, why) in &plan.not_run {
        println!("not run: {id}: {why}");
    }
    println!("measured here ({:?}):", options.device);
    for c in &estimate.costs {
        let s = &c.spec;
        println!(
            "  {:?} width {} {:?} stem, {}x{} batch {}, {:?}/{:?}, {:?}, {} threads: {:.3} s a step, {:.2} ms an evaluated image",
            s.arch,
            s.width,
            s.stem,
            s.side,
            s.side,
            s.batch,
            s.precision,
            s.memory_format,
            c.determinism,
            c.threads,
            c.seconds_per_step,
            1e3 * c.seconds_per_eval_image
        );
    }
    println!(
        "estimated time to train: {} on {:?} (steps x measured step time, plus evaluations and a fixed cost per run and epoch)",
        duration(estimate.total_seconds()),
        options.device
    );
    Ok(ExitCode::SUCCESS)
}

/// Seconds as "1 h 02 min", "3 min 05 s" or "12 s".
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Writes the shard's record (`shard.json`) before it trains: the runs it must finish and
/// those already finished.
fn start_shard(
    claims: &Path,
    options: &AuditOptions,
    file: &ParsedFile,
    (index, count): (usize, usize),
) -> anyhow::Result<ShardRecord> {
    let planned: Vec<PathBuf> = audit::shard_runs(file, &base_dir(claims), options, index, count)
        .iter()
        .map(|key| PathBuf::from("runs").join(key))
        .collect();
    let text = std::fs::read(claims).with_context(|| claims.display().to_string())?;
    let mut record = ShardRecord {
        claims: claims.to_owned(),
        claims_sha256: sha256_hex(&text),
        seeds: options.seeds,
        only: options.only.clone(),
        data: options.data.clone(),
        index,
        count,
        runs: Vec::new(),
        planned,
    };
    record.note_finished(&options.out);
    record.write(&options.out)?;
    Ok(record)
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
    let records = args
        .shards
        .iter()
        .map(|dir| Ok((dir.clone(), ShardRecord::read(dir)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    shard::check_complete(&records)?;
    let first = &records[0].1;
    let text = std::fs::read(&first.claims).with_context(|| {
        format!(
            "{}: the shards' claim file (run merge where the shards ran)",
            first.claims.display()
        )
    })?;
    if sha256_hex(&text) != first.claims_sha256 {
        bail!(
            "{} has changed since the shards ran; its verdicts would not match their runs",
            first.claims.display()
        );
    }
    let file = ParsedFile::read(&first.claims)?;
    let out = args.out.unwrap_or_else(|| default_out(&first.claims));
    create(&out)?;
    for (dir, record) in &records {
        let copied = shard::collect_runs(dir, record, &out)?;
        tracing::info!(
            "shard {}/{}: {copied} runs copied from {}",
            record.index,
            record.count,
            dir.display()
        );
    }
    let options = AuditOptions {
        data: first.data.clone(),
        seeds: first.seeds,
        only: first.only.clone(),
        out: out.clone(),
        device: pick_device(device)?,
        training: Training::None,
        alpha: args.decision.alpha,
        adjust: args.decision.adjust,
        results: None,
        hooks: super::hooks::training(),
    };
    let results = audit::audit(
        &file,
        &base_dir(&first.claims),
        &options,
        &mut Console::new("  "),
    );
    finish(&out, &results, settings(&file, &options, None))
}

/// What the audit's files record about how it was decided.
fn settings(file: &ParsedFile, options: &AuditOptions, results: Option<&Path>) -> Settings {
    Settings {
        source: file.source.clone(),
        seeds: results.is_none().then_some(options.seeds),
        results: results.map(|p| p.display().to_string()),
        alpha: options.alpha,
        adjust: options.adjust,
    }
}

/// Writes the audit's files and table; exit 1 when a claim is NOT REPRODUCED.
fn finish(
    out: &Path,
    results: &[audit::ClaimResult],
    settings: Settings,
) -> anyhow::Result<ExitCode> {
    audit::output::write(out, results, &settings)?;
    println!("{}", settings.describe());
    print!("{}", audit::output::table(results));
    println!(
        "written: {0}/audit.json, {0}/audit.md, {0}/audit.html",
        out.display()
    );
    let failed = results
        .iter()
        .any(|r| matches!(r.verdict, Verdict::NotReproduced { .. }));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
