//! Link-time fixes for libtorch (see ci/provision-libtorch.sh for where it comes from).
//!
//! - An rpath to libtorch's lib folder, so the binary, tests and benches run without
//!   `LD_LIBRARY_PATH`. The path is canonical: libtorch finds its CUDA libraries through
//!   `$ORIGIN/../../nvidia/...`, which only works from the real folder, not through a link.
//! - `libtorch_cuda` kept as a needed library: nothing references it by symbol, so the
//!   linker's default `--as-needed` drops it and CUDA then silently looks absent.
//! - The C++ shim (`src/shim.cpp`) for what tch does not expose.
//! - The git commit being built, for the provenance every audit page carries.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rustc-env=CIFAR_REPRO_COMMIT={}", build_commit());
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports DEP_TCH_LIBTORCH_LIB"),
    );
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    build_shim(&lib);
}

/// The commit being built (`git rev-parse HEAD`, `-dirty` when tracked files had changes
/// at build time), or "unknown" outside a git checkout; rebuilt when HEAD or a branch moves.
fn build_commit() -> String {
    for watched in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!("{commit}{}", if dirty { "-dirty" } else { "" })
        }
        _ => "unknown".to_owned(),
    }
}

fn build_shim(lib: &Path) {
    let root = lib.parent().expect("libtorch lib folder has a parent");
    cc::Build::new()
        .cpp(true)
        .file("src/shim.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .warnings(false)
        .compile("cifar_repro_shim");
}
