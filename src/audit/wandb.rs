//! A Weights & Biases run summary (`wandb-summary.json`) as a claim file: one absolute
//! claim per metric the summary holds, about the run preset or config it names.
//!
//! The keys are the ones a Keras-style training logs and the report's slide shows:
//! `acc`, `loss` (the training split), `val acc`, `val f1`, `val loss`, `val precision`,
//! `val recall` (the test split), and `epoch`.

use super::claims::{Metric, ParsedFile};
use std::fmt::Write;

/// The largest summary file read (a real one is a few kilobytes).
pub const MAX_SUMMARY_BYTES: u64 = 64 << 20;

/// The summary keys read, with the metric and split each claims.
const KEYS: [(&str, Metric, &str); 7] = [
    ("val acc", Metric::Accuracy, "test"),
    ("val f1", Metric::MacroF1, "test"),
    ("val precision", Metric::MacroPrecision, "test"),
    ("val recall", Metric::MacroRecall, "test"),
    ("val loss", Metric::Loss, "test"),
    ("acc", Metric::Accuracy, "train"),
    ("loss", Metric::Loss, "train"),
];

/// A summary that gives no claim.
#[derive(Debug, thiserror::Error)]
pub enum WandbError {
    /// Not JSON, or not an object.
    #[error("not a W&B summary: {0}")]
    Json(String),
    /// None of the keys cifar-repro reads.
    #[error("the summary has none of the keys {}", KEYS.map(|k| k.0).join(", "))]
    Empty,
    /// A value that cannot be the metric it is mapped to.
    #[error("{key} = {value} is outside the domain of {metric}")]
    OutOfDomain {
        /// The summary's key.
        key: String,
        /// Its value.
        value: f64,
        /// The metric.
        metric: String,
    },
}

/// Margins for the claims made: one for proportions and one for losses.
#[derive(Debug, Clone, Copy)]
pub struct Margins {
    /// For accuracies and other proportions.
    pub proportion: f64,
    /// For losses.
    pub loss: f64,
}

/// The claim file (TOML) for `summary` about the run `run` (a preset or config file).
pub fn claims_from_summary(
    summary: &str,
    run: &str,
    margins: Margins,
) -> Result<String, WandbError> {
    let json: serde_json::Value =
        serde_json::from_str(summary).map_err(|e| WandbError::Json(e.to_string()))?;
    let epoch = json.get("epoch").and_then(serde_json::Value::as_f64);
    let at = epoch.map_or(String::new(), |e| format!(" at epoch {e}"));
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Claims made by `cifar-repro claims from-wandb` from a W&B run summary: one run\n\
         # (runs = 1), so the audit compares its seeds with that one run. Margins: {} for\n\
         # proportions, {} for losses; change them to the smallest difference that matters.\n\
         source = {}\nseed = 0\n",
        margins.proportion,
        margins.loss,
        quote(&format!("W&B run summary of {run}"))
    );
    let mut made = 0;
    for (key, metric, split) in KEYS {
        let Some(value) = json.get(key).and_then(serde_json::Value::as_f64) else {
            continue;
        };
        let name = format!("{metric:?}").to_lowercase();
        if !metric.domain().contains(&value) {
            return Err(WandbError::OutOfDomain {
                key: key.into(),
                value,
                metric: name,
            });
        }
        let margin = if metric == Metric::Loss {
            margins.loss
        } else {
            margins.proportion
        };
        let metric_key = serde_json::to_value(metric)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or(name);
        let _ = write!(
            text,
            "\n[[claim]]\nid = {}\nsentence = {}\nrun = {}\nmetric = {}\nsplit = {}\nvalue = {value}\nmargin = {margin}\n",
            quote(&format!("wandb-{}", key.replace(' ', "-"))),
            quote(&format!("The W&B run logged {key} = {value}{at}.")),
            quote(run),
            quote(&metric_key),
            quote(split),
        );
        made += 1;
    }
    if made == 0 {
        return Err(WandbError::Empty);
    }
    // What this writes must read back as a claim file.
    ParsedFile::parse(&text).map_err(|e| WandbError::Json(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGINS: Margins = Margins {
        proportion: 0.02,
        loss: 0.1,
    };

    #[test]
    fn the_slides_summary_gives_seven_claims_that_parse() {
        let summary = r#"{"acc": 0.8441, "loss": 0.441, "val acc": 0.6717, "val f1": 0.6731,
            "val loss": 1.0873, "val precision": 0.6788, "val recall": 0.6734, "epoch": 14,
            "_runtime": 812.5}"#;
        let text = claims_from_summary(summary, "e1-baseline", MARGINS).unwrap();
        let file = ParsedFile::parse(&text).unwrap();
        assert_eq!(file.claims.len(), 7);
        let claim = file.claims[0].as_ref().unwrap();
        assert_eq!((claim.value, claim.margin), (Some(0.6717), 0.02));
        assert!(claim.sentence.contains("at epoch 14"), "{}", claim.sentence);
        let loss = file.claims[4].as_ref().unwrap();
        assert_eq!((loss.metric, loss.margin), (Some(Metric::Loss), 0.1));
    }

    #[test]
    fn a_summary_without_metrics_or_with_impossible_values_is_refused() {
        assert!(matches!(
            claims_from_summary(r#"{"epoch": 3}"#, "x", MARGINS),
            Err(WandbError::Empty)
        ));
        assert!(matches!(
            claims_from_summary(r#"{"val acc": 67.2}"#, "x", MARGINS),
            Err(WandbError::OutOfDomain { .. })
        ));
        assert!(matches!(
            claims_from_summary("[", "x", MARGINS),
            Err(WandbError::Json(_))
        ));
    }
}
