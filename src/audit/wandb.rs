//! A Weights & Biases run summary (`wandb-summary.json`) as a claim file: one absolute
//! claim per metric the summary holds, about the run preset or config it names.
//!
//! By default each metric is looked for under the names common loggers give it: the
//! report's slide (`val acc`, `acc`), Keras (`val_accuracy`, `accuracy`) and Lightning
//! (`val_acc`, `val/acc`, `train_loss`); `--key METRIC=KEY` names the key instead. A key
//! is read as written, or as a dotted path into the nested objects `wandb.log` writes for a
//! dict; media and tables (`{"_type": ...}`) are never read as numbers.

use super::claims::{Metric, ParsedFile};

/// The largest summary file read (a real one is a few kilobytes).
pub const MAX_SUMMARY_BYTES: u64 = 64 << 20;

/// The metrics a summary can give claims of, with their metric, split and the keys
/// looked for by default, in order.
const METRICS: [(&str, Metric, &str, &[&str]); 7] = [
    (
        "accuracy",
        Metric::Accuracy,
        "test",
        &[
            "val acc",
            "val_acc",
            "val/acc",
            "val_accuracy",
            "val/accuracy",
            "test_acc",
            "test/acc",
        ],
    ),
    (
        "macro_f1",
        Metric::MacroF1,
        "test",
        &["val f1", "val_f1", "val/f1"],
    ),
    (
        "macro_precision",
        Metric::MacroPrecision,
        "test",
        &["val precision", "val_precision", "val/precision"],
    ),
    (
        "macro_recall",
        Metric::MacroRecall,
        "test",
        &["val recall", "val_recall", "val/recall"],
    ),
    (
        "loss",
        Metric::Loss,
        "test",
        &["val loss", "val_loss", "val/loss", "test_loss", "test/loss"],
    ),
    (
        "train_accuracy",
        Metric::Accuracy,
        "train",
        &[
            "acc",
            "accuracy",
            "train_acc",
            "train/acc",
            "train_accuracy",
        ],
    ),
    (
        "train_loss",
        Metric::Loss,
        "train",
        &["loss", "train_loss", "train/loss"],
    ),
];

/// A summary that gives no claim, or a key mapping that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WandbError {
    /// Not JSON, or not an object.
    #[error("not a W&B summary: {0}")]
    Json(String),
    /// None of the keys looked for.
    #[error("the summary has none of the keys looked for ({0}); name yours with --key METRIC=KEY")]
    Empty(String),
    /// `--key` names a metric cifar-repro does not know.
    #[error("--key {}: not a metric; the metrics are {}", .0, METRICS.map(|m| m.0).join(", "))]
    UnknownMetric(String),
    /// `--key` names a key the summary lacks or that holds no number.
    #[error("--key {metric}={key}: {why}")]
    Key {
        /// The metric.
        metric: String,
        /// The summary's key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A value that cannot be the metric it is mapped to.
    #[error("{key} = {value} is outside the domain of {metric}{hint}")]
    OutOfDomain {
        /// The summary's key.
        key: String,
        /// Its value.
        value: f64,
        /// The metric.
        metric: String,
        /// A hint for a percentage.
        hint: String,
    },
    /// The claim file made does not read back (a bug, or margins out of range).
    #[error("the claims made do not read back: {0}")]
    Made(String),
}

/// Margins for the claims made: one for proportions and one for losses.
#[derive(Debug, Clone, Copy)]
pub struct Margins {
    /// For accuracies and other proportions.
    pub proportion: f64,
    /// For losses.
    pub loss: f64,
}

/// The number at `key` of a summary: the key as written, else a dotted path into nested
/// objects; a media or table object, or anything not a number, is why not.
fn number_at(json: &serde_json::Value, key: &str) -> Result<f64, String> {
    let value = json
        .get(key)
        .or_else(|| key.split('.').try_fold(json, |v, part| v.get(part)))
        .ok_or_else(|| "the summary has no such key".to_owned())?;
    if let Some(kind) = value.get("_type").and_then(|t| t.as_str()) {
        return Err(format!("a W&B {kind} object, not a number"));
    }
    value.as_f64().ok_or_else(|| {
        format!(
            "{} is not a number",
            crate::text::shorten(&value.to_string(), 60)
        )
    })
}

/// The (metric, key) pairs to claim: `keys` as given (each metric checked), or for each
/// metric the first default key holding a number.
fn mapping(
    json: &serde_json::Value,
    keys: &[(String, String)],
) -> Result<Vec<(usize, String, f64)>, WandbError> {
    if keys.is_empty() {
        let found: Vec<(usize, String, f64)> = METRICS
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.3.iter()
                    .find_map(|k| Some((i, (*k).to_owned(), number_at(json, k).ok()?)))
            })
            .collect();
        if found.is_empty() {
            let all: Vec<&str> = METRICS.iter().flat_map(|m| m.3.iter().copied()).collect();
            return Err(WandbError::Empty(all.join(", ")));
        }
        return Ok(found);
    }
    keys.iter()
        .map(|(metric, key)| {
            let i = METRICS
                .iter()
                .position(|m| m.0 == metric)
                .ok_or_else(|| WandbError::UnknownMetric(metric.clone()))?;
            let value = number_at(json, key).map_err(|why| WandbError::Key {
                metric: metric.clone(),
                key: key.clone(),
                why,
            })?;
            Ok((i, key.clone(), value))
        })
        .collect()
}

/// The `[[claim]]` block for metric `METRICS[i]` logged under `key` as `value`, about
/// `run` (`at` names the epoch); an error when the value cannot be that metric's.
fn claim_block(
    i: usize,
    key: &str,
    value: f64,
    (run, at): (&str, &str),
    margins: Margins,
) -> Result<String, WandbError> {
    let (_, metric, split, _) = METRICS[i];
    if !metric.domain().contains(&value) {
        let percent = metric != Metric::Loss && (1.0..=100.0).contains(&value);
        return Err(WandbError::OutOfDomain {
            key: key.to_owned(),
            value,
            metric: metric.name().into(),
            hint: if percent {
                " (a percentage? the claim needs a fraction)".into()
            } else {
                String::new()
            },
        });
    }
    let margin = if metric == Metric::Loss {
        margins.loss
    } else {
        margins.proportion
    };
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    // As TOML floats: Rust writes 1e19 as 20 digits, which TOML reads as an integer too
    // large for it.
    let (value, margin) = (toml::Value::Float(value), toml::Value::Float(margin));
    Ok(format!(
        "\n[[claim]]\nid = {}\nsentence = {}\nrun = {}\nmetric = {}\nsplit = {}\nvalue = {value}\nmargin = {margin}\n",
        quote(&format!("wandb-{}", key.replace([' ', '/', '.'], "-"))),
        quote(&format!("The W&B run logged {key} = {value}{at}.")),
        quote(run),
        quote(metric.name()),
        quote(split),
    ))
}

/// The claim file (TOML) for `summary` about the run `run` (a preset or config file):
/// with `keys` (metric, summary key) the claims those name, else every metric found
/// under a default key.
pub fn claims_from_summary(
    summary: &str,
    run: &str,
    margins: Margins,
    keys: &[(String, String)],
) -> Result<String, WandbError> {
    let json: serde_json::Value =
        serde_json::from_str(summary).map_err(|e| WandbError::Json(e.to_string()))?;
    if !json.is_object() {
        return Err(WandbError::Json("not a JSON object".into()));
    }
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
    for (i, key, value) in mapping(&json, keys)? {
        text.push_str(&claim_block(i, &key, value, (run, &at), margins)?);
    }
    // What this writes must read back as a claim file.
    let parsed = ParsedFile::parse(&text).map_err(|e| WandbError::Made(e.to_string()))?;
    if let Some(Err(unparsed)) = parsed.claims.iter().find(|c| c.is_err()) {
        return Err(WandbError::Made(unparsed.why.clone()));
    }
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
        let text = claims_from_summary(summary, "e1-baseline", MARGINS, &[]).unwrap();
        let file = ParsedFile::parse(&text).unwrap();
        assert_eq!(file.claims.len(), 7);
        let claim = file.claims[0].as_ref().unwrap();
        assert_eq!((claim.value, claim.margin), (Some(0.6717), 0.02));
        assert!(claim.sentence.contains("at epoch 14"), "{}", claim.sentence);
        let loss = file.claims[4].as_ref().unwrap();
        assert_eq!((loss.metric, loss.margin), (Some(Metric::Loss), 0.1));
    }

    #[test]
    fn a_margin_of_any_size_reads_back() {
        let summary = r#"{"val acc": 0.6717, "val loss": 1.0873}"#;
        let wide = Margins {
            proportion: 1.0,
            loss: 1e19,
        };
        let text = claims_from_summary(summary, "x", wide, &[]).unwrap();
        assert!(text.contains("margin = 10000000000000000000.0"), "{text}");
        ParsedFile::parse(&text).unwrap();
    }

    #[test]
    fn a_summary_without_metrics_or_with_impossible_values_is_refused() {
        assert!(matches!(
            claims_from_summary(r#"{"epoch": 3}"#, "x", MARGINS, &[]),
            Err(WandbError::Empty(_))
        ));
        assert!(matches!(
            claims_from_summary(r#"{"val acc": 67.2}"#, "x", MARGINS, &[]),
            Err(WandbError::OutOfDomain { .. })
        ));
        assert!(matches!(
            claims_from_summary("[", "x", MARGINS, &[]),
            Err(WandbError::Json(_))
        ));
    }

    #[test]
    fn lightning_keys_nested_objects_and_media_are_read_as_wandb_writes_them() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/programs/wandb-lightning-summary.json");
        let summary = std::fs::read_to_string(path).unwrap();
        let text = claims_from_summary(&summary, "quickstart", MARGINS, &[]).unwrap();
        let file = ParsedFile::parse(&text).unwrap();
        let ids: Vec<&str> = file
            .claims
            .iter()
            .map(|c| c.as_ref().unwrap().id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["wandb-val-acc", "wandb-val-loss", "wandb-train_loss"],
            "{text}"
        );
        let keys = [("macro_f1".to_owned(), "val.f1".to_owned())];
        let nested = claims_from_summary(&summary, "quickstart", MARGINS, &keys).unwrap();
        assert!(nested.contains("value = 0.5"), "{nested}");
        let media = [("accuracy".to_owned(), "examples".to_owned())];
        let refused = claims_from_summary(&summary, "q", MARGINS, &media).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("a W&B images/separated object"),
            "{refused}"
        );
        let unknown = [("acc".to_owned(), "val/acc".to_owned())];
        let refused = claims_from_summary(&summary, "q", MARGINS, &unknown).unwrap_err();
        assert!(matches!(refused, WandbError::UnknownMetric(_)), "{refused}");
    }
}
