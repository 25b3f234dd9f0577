//! `cifar-repro env`.

use cifar_repro::determinism::NumericsClass;
use cifar_repro::runtime::{self, RuntimeInfo};
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct EnvArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Apply this determinism mode first and print every flag as libtorch reads it back.
    #[arg(long, value_enum)]
    determinism: Option<cifar_repro::determinism::Determinism>,
    /// Fix libtorch's intra-op thread count first (the numerics class depends on it; a run
    /// with `loop.threads = N` is in the class `env --threads N` prints).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: EnvArgs) -> anyhow::Result<ExitCode> {
    // Checked before anything touches libtorch: a thread pool of 99,999 is not started.
    cifar_repro::config::check_threads(args.threads)?;
    let flags = args
        .determinism
        .map(|mode| cifar_repro::determinism::flags::apply(mode, args.threads));
    if args.threads > 0 {
        tch::set_num_threads(args.threads as i32);
    }
    let info = RuntimeInfo::current();
    let numerics = NumericsClass::measure(
        tch::Device::Cpu,
        super::hooks::training().numerics_digest.as_deref(),
    )?;
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        value["numerics"] = serde_json::to_value(&numerics)?;
        if let Some(flags) = &flags {
            value["determinism"] = serde_json::to_value(flags)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("cifar-repro      {}", info.crate_version);
        println!("libtorch         {}", info.libtorch_version);
        println!("cuda available   {}", info.cuda_available);
        println!("cuda devices     {}", info.cuda_device_count);
        let cudnn = info
            .cudnn_version
            .map_or("none".to_owned(), |v| v.to_string());
        println!("cudnn            {cudnn}");
        println!("threads          {}", info.threads);
        println!("cpu capability   {}", info.cpu_capability);
        println!(
            "cpu              {} ({})",
            numerics.cpu_model, numerics.cpu_vendor
        );
        println!("numerics class   {}", numerics.name);
        if let Some(f) = &flags {
            println!("determinism      {}", super::common::spelled(&f.mode));
            println!("  deterministic algorithms  {}", f.deterministic_algorithms);
            println!("  cudnn deterministic       {}", f.cudnn_deterministic);
            println!("  cudnn benchmark           {}", f.cudnn_benchmark);
            println!(
                "  tf32 cublas / cudnn       {} / {}",
                f.tf32_cublas, f.tf32_cudnn
            );
            println!(
                "  CUBLAS_WORKSPACE_CONFIG   {}",
                f.cublas_workspace_config.as_deref().unwrap_or("unset")
            );
        }
    }
    runtime::check_required_cuda()?;
    Ok(ExitCode::SUCCESS)
}
