//! `cifar-repro variance RUN`: one source of randomness varied at a time, its shards
//! (`--shard I/N`) and `variance merge`.

use super::common::{Console, pick_device, print_out};
use anyhow::bail;
use cifar_repro::audit::shard::{self, ShardRecord, StudyRecord};
use cifar_repro::audit::{AuditOptions, Decision, Mode, Training};
use cifar_repro::config::{DeviceChoice, RunSpec, set_override};
use cifar_repro::fsutil::prepare_output_folder;
use cifar_repro::variance::{Arm, Study, Variance};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What a study writes directly into its `--out` (a folder holding any of them that
/// cifar-repro did not mark is refused).
const STUDY_OUTPUTS: [&str; 5] = [
    "variance.json",
    "variance.md",
    "variance.html",
    "runs",
    "shard.json",
];

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct VarianceArgs {
    #[command(subcommand)]
    command: Option<VarianceCommand>,
    /// A preset (`cifar-repro presets`) or config file.
    #[arg(required = true)]
    run: Option<String>,
    /// Runs per arm.
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=10_000))]
    seeds: usize,
    /// The arms, comma-separated: init, order, augment and mix vary that stream alone;
    /// numerics varies only the arithmetic (on a CPU one weight times 1 + 1e-3, on CUDA
    /// seeded mode's kernels); all varies every stream [default: every arm that varies
    /// something in this run].
    #[arg(long, value_delimiter = ',', value_parser = Arm::parse)]
    sources: Option<Vec<Arm>>,
    /// The study's folder: runs/, variance.json, variance.md, variance.html [default:
    /// variance/NAME].
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
    /// CIFAR-10 folder or .tar.gz for every run (default: the config's own).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs of every run (overrides `loop.epochs`).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    epochs: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// The level of the sd intervals: each is a (1 - alpha) chi-square interval.
    #[arg(long, default_value_t = 0.05, value_parser = super::audit::parse_alpha)]
    alpha: f64,
    /// Train nothing: list the runs and estimate their time here (absent data is taken to
    /// be the full set, absent weights are not needed).
    #[arg(long, conflicts_with = "shard")]
    plan: bool,
    /// Train only part I of N (0 <= I < N) of the runs, into --out, and record them in
    /// shard.json; `variance merge` then writes the study.
    #[arg(long, value_name = "I/N", value_parser = super::audit::parse_shard)]
    shard: Option<(usize, usize)>,
}

#[derive(Subcommand)]
enum VarianceCommand {
    /// Combine the folders of every shard of one study (`variance --shard I/N`) into one
    /// folder and write the study, exactly as a single-machine study would.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The shards' folders, one per shard.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The merged folder [default: variance/NAME].
    #[arg(long, value_parser = super::common::utf8_path)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// The level of the sd intervals.
    #[arg(long, default_value_t = 0.05, value_parser = super::audit::parse_alpha)]
    alpha: f64,
}

/// The run as the command line names it: the preset or file, `--epochs` over it.
fn spec(run: &str, epochs: Option<usize>) -> RunSpec {
    let mut overrides = toml::Table::new();
    if let Some(n) = epochs {
        set_override(
            &mut overrides,
            "loop.epochs",
            i64::try_from(n).unwrap_or(i64::MAX),
        );
    }
    RunSpec {
        run: run.to_owned(),
        overrides: (!overrides.is_empty()).then_some(overrides),
    }
}

fn default_out(run: &str) -> PathBuf {
    let name = Path::new(run)
        .file_stem()
        .map_or("study".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("variance").join(name)
}

fn options(
    out: PathBuf,
    seeds: usize,
    data: Option<PathBuf>,
    device: DeviceChoice,
    alpha: f64,
    training: Training,
    mode: Mode,
) -> anyhow::Result<AuditOptions> {
    Ok(AuditOptions {
        data,
        seeds,
        only: None,
        out,
        device: pick_device(device)?,
        training,
        decision: Decision {
            alpha,
            ..Decision::default()
        },
        results: None,
        hooks: super::hooks::training(),
        mode,
        allow_commands: false,
    })
}

pub fn run(args: VarianceArgs) -> anyhow::Result<ExitCode> {
    if let Some(VarianceCommand::Merge(merge_args)) = args.command {
        return merge(merge_args);
    }
    let Some(run) = args.run.clone() else {
        bail!("give a preset or config file, or `variance merge DIR...`");
    };
    let spec = spec(&run, args.epochs);
    let out = args.out.clone().unwrap_or_else(|| default_out(&run));
    let training = match args.shard {
        Some((index, count)) => Training::Shard { index, count },
        None => Training::All,
    };
    let options = options(
        out.clone(),
        args.seeds,
        args.data.clone(),
        args.device,
        args.alpha,
        training,
        if args.plan {
            Mode::Estimate
        } else {
            Mode::Real
        },
    )?;
    let mut study = Study::new(&spec, Path::new(""), &options, args.sources.as_deref())
        .map_err(|e| anyhow::anyhow!("{run}: {e}"))?;
    if args.plan {
        let plan = study.plan();
        super::plan::print(&spec.describe(), &plan, &options)?;
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = prepare_output_folder(&out, "a variance study folder", &STUDY_OUTPUTS)?;
    let record = args.shard.map(|shard| {
        let source = (Path::new(&run), study.configs_sha256().to_owned());
        let arms = study.arms().iter().map(|a| a.name().to_owned()).collect();
        let planned = study.shard_runs(shard.0, shard.1);
        let study_record = StudyRecord {
            run: spec.clone(),
            arms,
        };
        ShardRecord::start(source, Some(study_record), &options, planned, shard)
    });
    if let Some(record) = &record {
        record.write(&out)?;
    }
    let variance = study.run(&mut Console::new("  "));
    match record {
        Some(record) => super::audit::finish_shard(record, &options, "variance"),
        None => finish(&out, &variance),
    }
}

/// Writes the study's files, then prints the arms' table (a closed stdout loses nothing);
/// exit 2 when a run failed.
fn finish(out: &Path, variance: &Variance) -> anyhow::Result<ExitCode> {
    let written = cifar_repro::variance::write(out, variance);
    print_out(&format!(
        "{}\n{}",
        cifar_repro::variance::describe(variance),
        cifar_repro::variance::table(variance)
    ));
    written?;
    print_out(&format!(
        "written: {0}/variance.json, {0}/variance.md, {0}/variance.html\n",
        out.display()
    ));
    let failed = variance.arms.iter().any(|a| !a.missing.is_empty());
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let first = ShardRecord::read(&args.shards[0])?;
    let Some(study_record) = first.study.clone() else {
        bail!(
            "{} is a shard of an audit, not of a variance study: use `cifar-repro audit merge`",
            args.shards[0].display()
        );
    };
    let arms = study_record
        .arms
        .iter()
        .map(|a| Arm::parse(a).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<Arm>>>()?;
    let run = first.source.display().to_string();
    let out = args.out.unwrap_or_else(|| default_out(&run));
    let options = options(
        out.clone(),
        first.seeds,
        first.data.clone(),
        args.device,
        args.alpha,
        Training::MergeOnly,
        Mode::Real,
    )?;
    let study = Study::new(&study_record.run, Path::new(""), &options, Some(&arms))
        .map_err(|e| anyhow::anyhow!("{run}: {e}"))?;
    let digest = |_: &ShardRecord| Ok(study.configs_sha256().to_owned());
    let (_, copied, _lock) = shard::merge(&args.shards, (&out, &STUDY_OUTPUTS), &digest)?;
    for (dir, n) in args.shards.iter().zip(copied) {
        tracing::info!("{n} runs copied from {}", dir.display());
    }
    let variance = study.run(&mut Console::new("  "));
    finish(&out, &variance)
}
