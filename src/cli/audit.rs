//! `cifar-repro audit CLAIMS.toml`, its shards (`--shard I/N`), its rehearsal
//! (`--rehearse`) and `audit merge`.

use super::common::{Console, pick_device, print_out};
use anyhow::{Context, bail};
use cifar_repro::audit::output::{Provenance, Settings};
use cifar_repro::audit::rehearse::{SmokeScale, StandIns, vendored_data};
use cifar_repro::audit::shard::{self, ShardRecord};
use cifar_repro::audit::{
    Adjust, Audit, AuditObserver, AuditOptions, ClaimResult, Decision, Mode, ParsedFile, Results,
    Training, Verdict,
};
use cifar_repro::config::{DeviceChoice, RunSpec};
use cifar_repro::fsutil::prepare_output_folder;
use cifar_repro::variance::Study;
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
    #[arg(long, value_parser = super::common::utf8_path)]
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
    /// Also measure, for every run the claims read, how much each source of randomness
    /// alone moves its final metrics (`cifar-repro variance` with --seeds runs per arm,
    /// into OUT/variance/), and add the arms' sds to each claim's notes. For reading only:
    /// no verdict changes.
    #[arg(long, conflicts_with_all = ["shard", "results", "rehearse", "plan"])]
    variance: bool,
    /// Let claims whose run is a command (`run = "runner:NAME"`, `[runners.NAME]` in the
    /// file) run it, once per seed. A claim file that runs commands is code: read it, or
    /// its `--plan`, which prints every command, first.
    #[arg(long)]
    allow_commands: bool,
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

pub fn parse_alpha(text: &str) -> Result<f64, String> {
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
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
    #[command(flatten)]
    decision: DecisionArgs,
}

pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
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

/// What an audit writes directly into its `--out` (a folder holding any of them that
/// cifar-repro did not mark is refused).
const AUDIT_OUTPUTS: [&str; 6] = [
    "audit.json",
    "audit.md",
    "audit.html",
    "runs",
    "variance",
    "shard.json",
];

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
    refuse_commands(&file, &args)?;
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
    let _lock = prepare_output_folder(&out, "an audit folder", &AUDIT_OUTPUTS)?;
    let record = start_shard(args.shard, &claims, &audit, &options)?;
    let mut results = audit.run(&mut Console::new("  "));
    if cifar_repro::program::interrupted() {
        eprintln!(
            "interrupted: the running program's process group was killed; nothing was written, and the same command continues (finished runs are reused)"
        );
        return Ok(ExitCode::from(130));
    }
    if args.variance {
        variance_notes(&file, &options, &mut results)?;
    }
    if let Some(record) = record {
        return finish_shard(record, &options, "audit");
    }
    let code = finish(
        &out,
        &results,
        settings((&claims, &file), &options, args.results.as_deref()),
    )?;
    if args.rehearse {
        full_scale_plan(&claims, &file, &args, &options)?;
    }
    Ok(code)
}

/// A shard's record, written before it trains so that a shard killed midway names the
/// runs it left undone.
fn start_shard(
    shard: Option<(usize, usize)>,
    claims: &Path,
    audit: &Audit,
    options: &AuditOptions,
) -> anyhow::Result<Option<ShardRecord>> {
    let Some(shard) = shard else {
        return Ok(None);
    };
    let source = (claims, shard::file_sha256(claims)?);
    let planned = audit.shard_runs(shard.0, shard.1);
    let record = ShardRecord::start(source, None, options, planned, shard);
    record.write(&options.out)?;
    Ok(Some(record))
}

/// Refuses, before anything runs, an audit whose claims run commands without
/// --allow-commands (a plan, a rehearsal and a --results audit run none).
fn refuse_commands(file: &ParsedFile, args: &AuditArgs) -> anyhow::Result<()> {
    if args.allow_commands || args.plan || args.rehearse || args.results.is_some() {
        return Ok(());
    }
    let wanted = |id: &str| {
        args.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == id))
    };
    let ids: Vec<&str> = file
        .claims
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .filter(|c| wanted(&c.id) && c.runs_programs())
        .map(|c| c.id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let commands: Vec<String> = file
        .runners
        .iter()
        .map(|(name, spec)| format!("runners.{name}: {}", spec.command.join(" ")))
        .collect();
    bail!(
        "{} run commands, and commands run only with --allow-commands: a claim file that runs commands is code. Read it (or `--plan`, which prints every command) first. Its commands: {}",
        ids.join(", "),
        commands.join("; ")
    )
}

/// Runs a variance study of every run the selected claims read (into OUT/variance/) and
/// adds its arms' sds to their notes.
fn variance_notes(
    file: &ParsedFile,
    options: &AuditOptions,
    results: &mut [ClaimResult],
) -> anyhow::Result<()> {
    if options.seeds < 2 {
        bail!("--variance needs --seeds 2 or more: a spread needs two runs per arm");
    }
    let mut specs: Vec<&RunSpec> = Vec::new();
    for claim in results.iter().filter_map(|r| r.claim.as_ref()) {
        for spec in std::iter::once(&claim.run).chain(claim.than.as_ref()) {
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    let mut studies = Vec::new();
    for spec in specs {
        let described = spec.describe();
        let study = match Study::new(spec, &file.base_dir, options, None) {
            Ok(study) => study,
            Err(e) => {
                tracing::warn!("variance of {described}: {e}; its claims get no variance notes");
                continue;
            }
        };
        let variance = study.run(&mut Console::new("  "));
        let dir = options.out.join("variance").join(study_folder(&described));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        cifar_repro::variance::write(&dir, &variance)?;
        tracing::info!(
            "variance of {described}: {}",
            dir.join("variance.html").display()
        );
        studies.push(variance);
    }
    cifar_repro::variance::annotate(results, &studies);
    Ok(())
}

/// A folder name for the study of a run: the run's name and a digest of how it is named.
fn study_folder(described: &str) -> String {
    let stem: String = Path::new(described.split(' ').next().unwrap_or("run"))
        .file_stem()
        .map_or("run".into(), |s| s.to_string_lossy().into_owned())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let digest = cifar_repro::hash::sha256_hex(described.as_bytes());
    format!("{stem}-{}", &digest[..8])
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
        allow_commands: args.allow_commands || args.plan,
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
        allow_commands: true,
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
            "  {} distinct runs; estimated {} on {} ({:.1} device-hours)",
            plan.runs.len(),
            super::plan::duration(estimate.total_seconds()),
            cifar_repro::runtime::device_name(device),
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
    super::plan::print(&claims.display().to_string(), &plan, options)?;
    Ok(ExitCode::SUCCESS)
}

/// Records what a shard (of `command`: audit or variance) finished and says what comes
/// next; fails when one of its runs did not finish.
pub fn finish_shard(
    mut record: ShardRecord,
    options: &AuditOptions,
    command: &str,
) -> anyhow::Result<ExitCode> {
    record.note_finished(&options.out);
    record.write(&options.out)?;
    let (index, count) = (record.index, record.count);
    println!(
        "shard {index}/{count}: {} of its {} runs finished in {}; when every shard is done: cifar-repro {command} merge DIR... --out OUT",
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
    let first_record = ShardRecord::read(&args.shards[0])?;
    if first_record.study.is_some() {
        bail!(
            "{} is a shard of a variance study, not of an audit: use `cifar-repro variance merge`",
            args.shards[0].display()
        );
    }
    let first_claims = first_record.source;
    let out = args.out.unwrap_or_else(|| default_out(&first_claims, ""));
    let digest = |r: &ShardRecord| shard::file_sha256(&r.source).map_err(|e| e.to_string());
    let (first, copied, _lock) = shard::merge(&args.shards, (&out, &AUDIT_OUTPUTS), &digest)?;
    for (dir, n) in args.shards.iter().zip(copied) {
        tracing::info!("{n} runs copied from {}", dir.display());
    }
    let file = ParsedFile::read(&first.source)?;
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
        allow_commands: true,
    };
    let results = Audit::new(&file, &options).run(&mut Console::new("  "));
    finish(
        &out,
        &results,
        settings((&first.source, &file), &options, None),
    )
}

/// What the audit's files record about how it was decided.
fn settings(
    (claims, file): (&Path, &ParsedFile),
    options: &AuditOptions,
    results: Option<&Path>,
) -> Settings {
    Settings {
        provenance: Provenance::of(claims, options.device),
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

/// Writes the audit's files, then prints the verdicts (a closed stdout loses nothing; a
/// file that cannot be written is named after the verdicts).
/// Exit 2 when a claim could not be judged because something is wrong (a bad claim,
/// unreadable data, a run that failed: not a requirement this machine lacks), else 1 when
/// a claim is NOT REPRODUCED or FAILED.
fn finish(out: &Path, results: &[ClaimResult], settings: Settings) -> anyhow::Result<ExitCode> {
    let written = cifar_repro::audit::output::write(out, results, &settings);
    print_out(&format!(
        "{}\n{}",
        settings.describe(),
        cifar_repro::audit::output::table(results)
    ));
    written?;
    print_out(&format!(
        "written: {0}/audit.json, {0}/audit.md, {0}/audit.html\n",
        out.display()
    ));
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
