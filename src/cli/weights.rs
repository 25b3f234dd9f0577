//! `cifar-repro weights`: list and fetch the torchvision ImageNet weights.

use super::progress::Progress;
use cifar_repro::download::Expected;
use cifar_repro::model::{KNOWN_WEIGHTS, KnownWeights};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum WeightsCommand {
    /// List the weights `fetch` knows: name, architecture, file, pinned SHA-256 prefix.
    List,
    /// Download torchvision ImageNet weights into --dest (default `weights/`, where the
    /// presets look), checked against torchvision's pinned SHA-256 prefix or --sha256.
    /// A file already there that passes the check is kept.
    Fetch(FetchArgs),
}

#[derive(Args)]
pub struct FetchArgs {
    /// Which weights (`cifar-repro weights list`), e.g. resnet50.
    name: String,
    /// Folder to put the file in, under torchvision's file name.
    #[arg(long, default_value = "weights")]
    dest: PathBuf,
    /// Where to download from (default: download.pytorch.org; give a mirror here).
    #[arg(long)]
    url: Option<String>,
    /// Pin the whole SHA-256 instead of torchvision's 8-digit prefix (e.g. one you
    /// recorded from an earlier fetch).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
}

pub fn run(command: WeightsCommand) -> anyhow::Result<ExitCode> {
    match command {
        WeightsCommand::List => {
            for w in &KNOWN_WEIGHTS {
                println!(
                    "{:<12} {:<9} {:<22} sha256 {}...  ({})",
                    w.name,
                    format!("{:?}", w.arch).to_lowercase(),
                    w.file,
                    w.sha256_prefix,
                    w.torchvision
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WeightsCommand::Fetch(args) => fetch(args),
    }
}

fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let weights = KnownWeights::find(&args.name)?;
    if let Some(hex) = &args.sha256
        && (hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        anyhow::bail!("--sha256 must be 64 hex digits, got {hex:?}");
    }
    let url = args.url.clone().unwrap_or_else(|| weights.url());
    let expected = match &args.sha256 {
        Some(hex) => Expected::Sha256(hex.clone()),
        None => weights.pinned(),
    };
    tracing::info!("fetching {url} into {}", args.dest.display());
    let mut progress = Progress::new(weights.file);
    let (path, downloaded) = weights.fetch(&url, &args.dest, &expected, |done, total| {
        progress.bytes(done, total)
    })?;
    progress.finish();
    let sha256 = cifar_repro::hash::sha256_file(&path)?;
    let how = if downloaded {
        "downloaded"
    } else {
        "already there"
    };
    println!("{} ({how}; SHA-256 {sha256} verified)", path.display());
    if args.sha256.is_none() {
        println!(
            "pinned by torchvision's SHA-256 prefix {}; to pin the whole digest next time: --sha256 {sha256}",
            weights.sha256_prefix
        );
    }
    Ok(ExitCode::SUCCESS)
}
