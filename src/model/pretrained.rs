//! The torchvision ImageNet weights the report's transfer-learning runs start from, and
//! how to fetch them (`cifar-repro weights fetch`).

use super::Arch;
use crate::download::{DownloadError, Expected, fetch_unless_present};
use std::path::{Path, PathBuf};

/// Where torchvision publishes its weights files.
pub const TORCHVISION_BASE_URL: &str = "https://download.pytorch.org/models/";

/// One torchvision weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownWeights {
    /// What `weights fetch` calls it.
    pub name: &'static str,
    /// The architecture the weights are for.
    pub arch: Arch,
    /// torchvision's file name; its last part is the start of the file's SHA-256.
    pub file: &'static str,
    /// The SHA-256 prefix torchvision pins (and checks) for this file.
    pub sha256_prefix: &'static str,
    /// torchvision's name for these weights.
    pub torchvision: &'static str,
}

/// The weights the presets can use. `resnet50` is torchvision's current default
/// (IMAGENET1K_V2), the file the E3 to FINAL presets name.
pub const KNOWN_WEIGHTS: [KnownWeights; 3] = [
    KnownWeights {
        name: "resnet50",
        arch: Arch::Resnet50,
        file: "resnet50-11ad3fa6.pth",
        sha256_prefix: "11ad3fa6",
        torchvision: "ResNet50_Weights.IMAGENET1K_V2",
    },
    KnownWeights {
        name: "resnet50-v1",
        arch: Arch::Resnet50,
        file: "resnet50-0676ba61.pth",
        sha256_prefix: "0676ba61",
        torchvision: "ResNet50_Weights.IMAGENET1K_V1",
    },
    KnownWeights {
        name: "resnet18",
        arch: Arch::Resnet18,
        file: "resnet18-f37072fd.pth",
        sha256_prefix: "f37072fd",
        torchvision: "ResNet18_Weights.IMAGENET1K_V1",
    },
];

/// A weights name that is not in [`KNOWN_WEIGHTS`].
#[derive(Debug, thiserror::Error)]
#[error("unknown weights {0:?}; known: {known}", known = KNOWN_WEIGHTS.map(|w| w.name).join(", "))]
pub struct UnknownWeights(pub String);

impl KnownWeights {
    /// The entry called `name`.
    pub fn find(name: &str) -> Result<&'static Self, UnknownWeights> {
        KNOWN_WEIGHTS
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| UnknownWeights(name.to_owned()))
    }

    /// torchvision's address for the file.
    pub fn url(&self) -> String {
        format!("{TORCHVISION_BASE_URL}{}", self.file)
    }

    /// The pin torchvision itself checks.
    pub fn pinned(&self) -> Expected {
        Expected::Sha256Prefix(self.sha256_prefix.to_owned())
    }

    /// Downloads the file from `url` into `dest_dir` under torchvision's file name, checked
    /// against `expected`; a file already there that passes the check is kept. Returns its
    /// path and whether it was downloaded.
    pub fn fetch(
        &self,
        url: &str,
        dest_dir: &Path,
        expected: &Expected,
        progress: impl FnMut(u64, Option<u64>),
    ) -> Result<(PathBuf, bool), DownloadError> {
        std::fs::create_dir_all(dest_dir).map_err(|source| DownloadError::Io {
            path: dest_dir.to_owned(),
            source,
        })?;
        let dest = dest_dir.join(self.file);
        let downloaded = fetch_unless_present(url, &dest, expected, progress)?;
        Ok((dest, downloaded))
    }
}
