//! The provisioned Python torch (`ci/provision-libtorch.sh` installs the torch wheel and
//! `ci/provision-torchvision.sh` torchvision into the cache), for the one thing only torch
//! itself should make: a stand-in weights file in torchvision's own `torch.save` format.
//! `CIFAR_REPRO_PYTHON` names the interpreter (default `python3`); the cache's folders are
//! added to `PYTHONPATH` where they exist.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cache the provisioning scripts install into.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CIFAR_REPRO_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("cifar-repro"))
}

/// `python3` with the provisioned torch and torchvision on its path.
fn python() -> Command {
    let interpreter = std::env::var_os("CIFAR_REPRO_PYTHON").unwrap_or_else(|| "python3".into());
    let mut command = Command::new(interpreter);
    let mut paths: Vec<PathBuf> = std::env::var_os("PYTHONPATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(cache) = cache_dir() {
        for name in ["torch-2.11.0", "torchvision-0.26.0"] {
            let dir = cache.join(name);
            if dir.is_dir() && !paths.contains(&dir) {
                paths.push(dir);
            }
        }
    }
    if let Ok(joined) = std::env::join_paths(paths) {
        command.env("PYTHONPATH", joined);
    }
    command
}

/// Loads the tensors of `safetensors` into `torchvision.models.ARCH()` and writes its
/// `state_dict()` with `torch.save` to `pth` (through a temporary, renamed when whole).
/// Err says why not (no interpreter, no torch or torchvision, a name that does not fit).
pub fn torch_save_state_dict(safetensors: &Path, pth: &Path, arch: &str) -> Result<(), String> {
    let output = python()
        .arg("-c")
        .arg(SAVE_STATE_DICT)
        .arg(safetensors)
        .arg(pth)
        .arg(arch)
        .output()
        .map_err(|e| format!("cannot start Python: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr
        .lines()
        .last()
        .unwrap_or("Python failed")
        .chars()
        .take(300)
        .collect())
}

const SAVE_STATE_DICT: &str = r#"
import json, os, struct, sys
import torch, torchvision
source, dest, arch = sys.argv[1:4]
with open(source, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
tensors = {}
for name, meta in header.items():
    if name == "__metadata__":
        continue
    start, end = meta["data_offsets"]
    t = torch.frombuffer(bytearray(data[start:end]), dtype=kinds[meta["dtype"]])
    tensors[name] = t.reshape(meta["shape"])
model = getattr(torchvision.models, arch)()
missing, unexpected = model.load_state_dict(tensors, strict=False)
missing = [k for k in missing if not k.endswith("num_batches_tracked")]
if missing or unexpected:
    sys.exit(f"names do not fit torchvision's {arch}: {(missing + unexpected)[:3]}")
tmp = dest + ".partial"
torch.save(model.state_dict(), tmp)
os.replace(tmp, dest)
"#;
