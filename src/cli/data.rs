//! `cifar-repro data verify|info|fetch`.

use super::progress::Progress;
use anyhow::{Context, bail};
use cifar_repro::data::{
    self, ARCHIVE_NAME, Cifar10, DataError, FULL_TEST_RECORDS, FULL_TRAIN_RECORDS, OFFICIAL_MD5,
    OFFICIAL_URL,
};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::Kind;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Check every file: per-file SHA-256, record and class counts, and for an archive its
    /// MD5 (a full-size archive must match the official c32a1d4a...). Exit 1 on any problem.
    Verify(VerifyArgs),
    /// Describe a source: classes, split sizes, per-class counts, per-channel mean and std.
    Info(InfoArgs),
    /// Download the official cifar-10-binary.tar.gz (about 163 MB; needs internet),
    /// streamed, MD5-checked and renamed into place only when whole.
    Fetch(FetchArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// A cifar-10-batches-bin folder (or its parent), or cifar-10-binary.tar.gz.
    path: PathBuf,
    /// Also require the archive to have this MD5.
    #[arg(long, value_name = "HEX")]
    md5: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct InfoArgs {
    /// A cifar-10-batches-bin folder (or its parent), or cifar-10-binary.tar.gz.
    path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct FetchArgs {
    /// Folder to put cifar-10-binary.tar.gz in.
    #[arg(long, default_value = "data")]
    dest: PathBuf,
    /// Where to download from (a mirror of the official archive).
    #[arg(long, default_value = OFFICIAL_URL)]
    url: String,
    /// The MD5 the download must have.
    #[arg(long, default_value = OFFICIAL_MD5, value_name = "HEX")]
    md5: String,
}

pub fn run(command: DataCommand) -> anyhow::Result<ExitCode> {
    match command {
        DataCommand::Verify(args) => verify(args),
        DataCommand::Info(args) => info(args),
        DataCommand::Fetch(args) => fetch(args),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let set = Cifar10::load(&args.path)?;
    let md5 = archive_md5(&args.path, &set, args.md5.as_deref())?;
    if args.json {
        let report = json!({
            "path": set.path, "kind": set.kind, "full": set.is_full(),
            "train_records": set.train.len(), "test_records": set.test.len(),
            "classes": set.classes, "files": set.files, "archive_md5": md5,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "source  {} ({})",
        set.path.display(),
        super::common::spelled(&set.kind)
    );
    println!(
        "{:<18} {:>7}  {:<64}  class counts 0..9",
        "file", "records", "sha256"
    );
    for file in &set.files {
        let records = file.records.map_or("-".into(), |r| r.to_string());
        let counts = file.class_counts.map_or(String::new(), |c| {
            c.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        });
        println!("{:<18} {records:>7}  {}  {counts}", file.name, file.sha256);
    }
    if let Some(md5) = md5 {
        let official = if md5 == OFFICIAL_MD5 {
            "the official archive"
        } else {
            "not the official archive"
        };
        println!("archive md5  {md5} ({official})");
    }
    println!("{}", describe_size(&set));
    println!("OK");
    Ok(ExitCode::SUCCESS)
}

/// The archive's MD5 when `path` is an archive; a full-size archive must be the official
/// one, and `required` (when given) must match.
fn archive_md5(
    path: &Path,
    set: &Cifar10,
    required: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if !data::is_archive_name(path) {
        if required.is_some() {
            bail!(
                "{}: --md5 applies to an archive, not a folder",
                path.display()
            );
        }
        return Ok(None);
    }
    let md5 = data::md5_file(path).with_context(|| path.display().to_string())?;
    let expected = required.or(set.is_full().then_some(OFFICIAL_MD5));
    if let Some(expected) = expected.filter(|e| !md5.eq_ignore_ascii_case(e)) {
        return Err(DataError::Md5Mismatch {
            path: path.to_owned(),
            expected: expected.into(),
            actual: md5,
        }
        .into());
    }
    Ok(Some(md5))
}

fn describe_size(set: &Cifar10) -> String {
    let (train, test) = (set.train.len(), set.test.len());
    if set.is_full() {
        format!("train {train} + test {test} records: the full CIFAR-10")
    } else {
        format!(
            "train {train} + test {test} records: a sample (the full set has {FULL_TRAIN_RECORDS} + {FULL_TEST_RECORDS})"
        )
    }
}

fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let set = Cifar10::load(&args.path)?;
    let per_class = |labels: &tch::Tensor| -> Vec<i64> {
        Vec::<i64>::try_from(labels.bincount(None::<tch::Tensor>, data::NUM_CLASSES as i64))
            .unwrap_or_default()
    };
    let (train_counts, test_counts) = (per_class(&set.train.labels), per_class(&set.test.labels));
    let pixels = set.train.images.to_kind(Kind::Float) / 255.0;
    let mean = Vec::<f64>::try_from(pixels.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Double))?;
    let std = Vec::<f64>::try_from(pixels.to_kind(Kind::Double).std_dim(
        [0i64, 2, 3].as_slice(),
        false,
        false,
    ))?;
    if args.json {
        let report = json!({
            "path": set.path, "kind": set.kind, "full": set.is_full(),
            "train_records": set.train.len(), "test_records": set.test.len(),
            "image_shape": [3, 32, 32], "classes": set.classes,
            "train_class_counts": train_counts, "test_class_counts": test_counts,
            "train_channel_mean": mean, "train_channel_std": std,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "source  {} ({})",
        set.path.display(),
        super::common::spelled(&set.kind)
    );
    println!("{}", describe_size(&set));
    println!("images  u8, 3 x 32 x 32 (channels red, green, blue)");
    println!("{:>2}  {:<12} {:>7} {:>7}", "#", "class", "train", "test");
    for (i, name) in set.classes.iter().enumerate() {
        println!(
            "{i:>2}  {name:<12} {:>7} {:>7}",
            train_counts[i], test_counts[i]
        );
    }
    println!(
        "train channel mean (0..1)  {:.4} {:.4} {:.4}",
        mean[0], mean[1], mean[2]
    );
    println!(
        "train channel std  (0..1)  {:.4} {:.4} {:.4}",
        std[0], std[1], std[2]
    );
    Ok(ExitCode::SUCCESS)
}

fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    tracing::info!("fetching {} into {}", args.url, args.dest.display());
    let mut progress = Progress::new(ARCHIVE_NAME);
    let path = data::fetch_archive(&args.url, &args.dest, &args.md5, |done, total| {
        progress.bytes(done, total)
    })?;
    progress.finish();
    println!("{} (MD5 {} verified)", path.display(), args.md5);
    Ok(ExitCode::SUCCESS)
}
