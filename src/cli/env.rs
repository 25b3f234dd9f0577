//! `cifar-repro env`.

use cifar_repro::runtime::{self, RuntimeInfo};
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct EnvArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EnvArgs) -> anyhow::Result<ExitCode> {
    let info = RuntimeInfo::current();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
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
    }
    runtime::check_required_cuda()?;
    Ok(ExitCode::SUCCESS)
}
