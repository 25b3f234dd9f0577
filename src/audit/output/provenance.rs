//! Where and with what an audit ran, on every page it writes: cifar-repro's version and
//! the commit it was built from, libtorch, CUDA and cuDNN, the device, the numerics class,
//! and the claim file's SHA-256. Nothing here depends on when or in which process the pages
//! were written, so a merged audit's pages equal the unsharded audit's byte for byte.

use crate::determinism::numerics::NumericsClass;
use serde::Serialize;
use std::path::Path;

/// The commit the binary was built from (`git rev-parse HEAD` at build time, with
/// `-dirty` for uncommitted changes), or "unknown" outside a git checkout.
pub const BUILD_COMMIT: &str = env!("CIFAR_REPRO_COMMIT");

/// Where and with what an audit ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// cifar-repro's version.
    pub cifar_repro: String,
    /// The commit it was built from.
    pub commit: String,
    /// The libtorch it ran on.
    pub libtorch: String,
    /// CUDA devices libtorch saw (0 on a CPU machine).
    pub cuda_devices: i64,
    /// cuDNN's version, when CUDA is there.
    pub cudnn: Option<i64>,
    /// The device the audit trained and evaluated on.
    pub device: String,
    /// The CPU instruction set ATen dispatched to.
    pub cpu_capability: String,
    /// The numerics class, measured at 1 thread (each run's manifest names its own, at
    /// its own thread count).
    pub numerics_class: String,
    /// The claim file.
    pub claim_file: String,
    /// Its SHA-256.
    pub claim_file_sha256: String,
}

impl Provenance {
    /// The provenance of an audit of the claim file at `claims` on `device`.
    pub fn of(claims: &Path, device: tch::Device) -> Self {
        let runtime = crate::runtime::RuntimeInfo::current();
        let threads = tch::get_num_threads();
        tch::set_num_threads(1);
        let numerics = NumericsClass::measure(device, None)
            .map_or_else(|e| format!("unknown ({e})"), |c| c.name);
        tch::set_num_threads(threads);
        Self {
            cifar_repro: runtime.crate_version,
            commit: BUILD_COMMIT.to_owned(),
            libtorch: runtime.libtorch_version,
            cuda_devices: runtime.cuda_device_count,
            cudnn: runtime.cudnn_version,
            device: crate::runtime::device_name(device),
            cpu_capability: runtime.cpu_capability,
            numerics_class: numerics,
            claim_file: claims.display().to_string(),
            claim_file_sha256: crate::hash::sha256_file(claims)
                .unwrap_or_else(|e| format!("unreadable ({e})")),
        }
    }

    /// One line for a page.
    pub fn describe(&self) -> String {
        let cuda = match (self.cuda_devices, self.cudnn) {
            (0, _) => "no CUDA".to_owned(),
            (n, Some(cudnn)) => format!("{n} CUDA device(s), cuDNN {cudnn}"),
            (n, None) => format!("{n} CUDA device(s)"),
        };
        format!(
            "cifar-repro {} (commit {}), libtorch {}, {cuda}, on {} ({}), numerics class {}; claim file {} (SHA-256 {})",
            self.cifar_repro,
            self.commit,
            self.libtorch,
            self.device,
            self.cpu_capability,
            self.numerics_class,
            self.claim_file,
            self.claim_file_sha256
        )
    }
}
