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
    /// Write the initial weights `train` starts from when libtorch's generator is seeded
    /// with --torch-seed: every parameter and BatchNorm buffer under torchvision's names,
    /// byte for byte what `torch.manual_seed(S); torchvision.models.resnetXX(num_classes=10)`
    /// gives (see docs/fidelity.md).
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// A preset or config file.
    #[arg(long)]
    config: String,
    /// The seed given to libtorch's generator (`train` uses the seed tree's `init`, and
    /// records it in the manifest as seeds.init_torch_seed).
    #[arg(long, allow_negative_numbers = true)]
    torch_seed: i64,
    /// The .safetensors file to write (an existing file is kept).
    #[arg(long, value_parser = super::common::utf8_path)]
    out: PathBuf,
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
        WeightsCommand::Init(args) => {
            if args.out.exists() {
                anyhow::bail!("{} exists; choose another --out", args.out.display());
            }
            let config = cifar_repro::config::resolve(
                &args.config,
                std::path::Path::new(""),
                &toml::Table::new(),
            )?
            .config;
            let model =
                cifar_repro::model::Model::new(&config.model, tch::Device::Cpu, args.torch_seed)?;
            let mut vars: Vec<(String, tch::Tensor)> = model.vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            cifar_repro::fsutil::with_atomic(&args.out, |tmp| {
                tch::Tensor::write_safetensors(&vars, tmp)
                    .map_err(|e| anyhow::anyhow!(cifar_repro::runtime::tch_message(&e)))
            })?;
            println!("{}: {} tensors", args.out.display(), vars.len());
            Ok(ExitCode::SUCCESS)
        }
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
