//! `cifar-repro audit CLAIMS.toml`.

use super::train::{Console, pick_device};
use anyhow::Context;
use cifar_repro::audit::{self, AuditObserver, AuditOptions, ParsedFile, Verdict};
use cifar_repro::train::DeviceChoice;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    /// A claim file (see golden/claims/ and the README's "Claim files").
    claims: PathBuf,
    /// CIFAR-10 folder or .tar.gz for every run (default: each run config's own).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Runs per claim, seeded from the claim file's seed tree.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Only these claim ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Audit folder: runs/, audit.json, audit.md, audit.html [default: audits/NAME].
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
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

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let file = ParsedFile::read(&args.claims)?;
    let name = args
        .claims
        .file_stem()
        .map_or("audit".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("audits").join(&name));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the audit folder {}", out.display()))?;
    let options = AuditOptions {
        data: args.data.clone(),
        seeds: args.seeds.max(1),
        only: args.only.clone(),
        out: out.clone(),
        device: pick_device(args.device)?,
    };
    let base_dir = args
        .claims
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let results = audit::audit(&file, &base_dir, &options, &mut Console::new("  "));
    audit::output::write(&out, &results, &file.source, options.seeds)?;
    print!("{}", audit::output::table(&results));
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
