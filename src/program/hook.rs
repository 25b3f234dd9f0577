//! `seed_python = true`: a `sitecustomize` start-up hook that seeds Python's `random`,
//! numpy and torch with the replicate's seed before the program's first line, for a
//! script that takes no seed. It is written into the run's folder (`hook/`), put first on
//! `PYTHONPATH`, and then runs the `sitecustomize` the environment already had, if any.

use super::{ProgramError, io};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The variable that hands the hook its seed.
pub const SEED_VARIABLE: &str = "CIFAR_REPRO_SEED";

const HOOK: &str = r#"# Written by cifar-repro for a runner with seed_python = true: seeds Python's random,
# numpy and torch with $CIFAR_REPRO_SEED before the program's first line, then runs the
# sitecustomize that the environment had before this one, if any.
import os as _os
import random as _random
import sys as _sys

_seed = int(_os.environ["CIFAR_REPRO_SEED"])
_random.seed(_seed)
try:
    import numpy as _numpy
    _numpy.random.seed(_seed % 2**32)
except ImportError:
    pass
try:
    import torch as _torch
    _torch.manual_seed(_seed)
except ImportError:
    pass


def _chain():
    import importlib.machinery
    import importlib.util
    here = _os.path.dirname(_os.path.abspath(__file__))
    rest = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_chain()
"#;

/// Writes the hook into `folder/hook/` and returns that folder.
pub fn write(folder: &Path) -> Result<PathBuf, ProgramError> {
    let dir = std::path::absolute(folder.join("hook")).map_err(io(folder))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let file = dir.join("sitecustomize.py");
    crate::fsutil::write_atomic(&file, HOOK.as_bytes()).map_err(io(&file))?;
    Ok(dir)
}

/// The variables that run the hook in `dir` with `seed`: `PYTHONPATH` with the hook first
/// (before the runner's value, or the inherited one), the seed, and `PYTHONHASHSEED`.
pub fn variables(dir: &Path, seed: u64, runner_path: Option<&String>) -> BTreeMap<String, String> {
    let rest = runner_path
        .cloned()
        .or_else(|| std::env::var("PYTHONPATH").ok())
        .filter(|p| !p.is_empty());
    let path = match rest {
        Some(rest) => format!("{}:{rest}", dir.display()),
        None => dir.display().to_string(),
    };
    BTreeMap::from([
        ("PYTHONPATH".to_owned(), path),
        (SEED_VARIABLE.to_owned(), seed.to_string()),
        ("PYTHONHASHSEED".to_owned(), (seed % (1 << 32)).to_string()),
    ])
}
