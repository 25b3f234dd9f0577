//! The per-epoch log a program writes with the stdlib-only Python helper
//! (`python/cifar_repro_log.py`): one JSON line per epoch with the data order's digest,
//! the weights' digest and the epoch's metrics, the fingerprints cifar-repro's own
//! manifest keeps. Two logs compared name the first divergent epoch, as `verify` does for
//! cifar-repro's runs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The largest log read.
const MAX_LOG_BYTES: u64 = 256 << 20;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLine {
    /// 1-based.
    pub epoch: u64,
    /// SHA-256 of the epoch's data order (indices as little-endian u64), when logged.
    #[serde(default)]
    pub order_sha256: Option<String>,
    /// SHA-256 of the weights after the epoch (each tensor's name and bytes, in order).
    #[serde(default)]
    pub weights_sha256: Option<String>,
    /// Numbers, or strings such as "nan" for values that are not finite.
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

/// Where two logs first differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochDivergence {
    /// The first epoch that differs, 1-based.
    pub epoch: u64,
    /// What differs: `data order`, `weights`, `metric NAME`, or `epochs logged`.
    pub what: String,
}

impl EpochDivergence {
    /// "epoch 3: weights differ", "epoch 3: data order differs".
    pub fn describe(&self) -> String {
        let plural = ["weights", "epochs"]
            .iter()
            .any(|w| self.what.starts_with(w));
        let verb = if plural { "differ" } else { "differs" };
        format!("epoch {}: {} {verb}", self.epoch, self.what)
    }
}

/// Reads a log; a line that is not an epoch record is an error naming it.
pub fn read_log(path: &Path) -> Result<Vec<EpochLine>, String> {
    let text = crate::fsutil::read_capped(path, MAX_LOG_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The first epoch where two logs differ: the data order first (the cause comes before its
/// effects), then the weights, then each metric exactly; none when they agree.
pub fn compare(a: &[EpochLine], b: &[EpochLine]) -> Option<EpochDivergence> {
    for (x, y) in a.iter().zip(b) {
        let what = if x.epoch != y.epoch {
            Some("epoch number".to_owned())
        } else if x.order_sha256 != y.order_sha256 {
            Some("data order".to_owned())
        } else if x.weights_sha256 != y.weights_sha256 {
            Some("weights".to_owned())
        } else {
            x.metrics
                .iter()
                .find(|(name, v)| y.metrics.get(*name) != Some(v))
                .map(|(name, _)| format!("metric {name}"))
        };
        if let Some(what) = what {
            return Some(EpochDivergence {
                epoch: x.epoch,
                what,
            });
        }
    }
    (a.len() != b.len()).then(|| EpochDivergence {
        epoch: a.len().min(b.len()) as u64 + 1,
        what: format!("epochs logged ({} vs {})", a.len(), b.len()),
    })
}

/// [`compare`] of the logs at two paths.
pub fn compare_files(a: &Path, b: &Path) -> Result<Option<EpochDivergence>, String> {
    Ok(compare(&read_log(a)?, &read_log(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(epoch: u64, order: &str, weights: &str, loss: f64) -> EpochLine {
        EpochLine {
            epoch,
            order_sha256: Some(order.into()),
            weights_sha256: Some(weights.into()),
            metrics: [("train_loss".to_owned(), serde_json::json!(loss))].into(),
        }
    }

    #[test]
    fn the_first_divergent_epoch_names_the_cause_before_its_effects() {
        let a = vec![line(1, "o1", "w1", 0.5), line(2, "o2", "w2", 0.4)];
        assert_eq!(compare(&a, &a), None);
        let mut b = a.clone();
        b[1] = line(2, "o2", "w2x", 0.41);
        assert_eq!(
            compare(&a, &b).unwrap().describe(),
            "epoch 2: weights differ"
        );
        b[1] = line(2, "o2x", "w2x", 0.41);
        assert_eq!(
            compare(&a, &b).unwrap().describe(),
            "epoch 2: data order differs"
        );
        b[1] = line(2, "o2", "w2", 0.41);
        assert_eq!(
            compare(&a, &b).unwrap().describe(),
            "epoch 2: metric train_loss differs"
        );
        let short = compare(&a, &a[..1]).unwrap();
        assert_eq!(short.epoch, 2);
        assert!(short.what.contains("epochs logged (2 vs 1)"));
    }
}
