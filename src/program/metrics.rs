//! A program's metrics, read from the file it writes: a JSON object (`json.dump`), the
//! last row that gives each column of a CSV (`csv.DictWriter`, as Lightning's CSVLogger
//! writes), or a W&B run summary (`wandb-summary.json`).

use super::ProgramError;
use super::spec::METRIC_NAMES;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The largest metrics file read.
const MAX_METRICS_BYTES: u64 = 64 << 20;

/// How a training program writes its final metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsFormat {
    /// A JSON object.
    Json,
    /// A CSV file with a header; the last row counts.
    Csv,
    /// A W&B run's `wandb-summary.json`.
    Wandb,
}

/// Where a program's metrics are and which key holds each.
/// Unknown keys are not rejected by serde (the metric names are flattened into `keys`);
/// [`MetricsSpec::validate`] refuses any key that is not a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSpec {
    /// The file (a template, e.g. `{out}/metrics.json`).
    pub file: String,
    /// json, csv or wandb [default: csv for a `.csv` file, wandb for
    /// `wandb-summary.json`, else json].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<MetricsFormat>,
    /// cifar-repro's metric name (accuracy, loss, macro_f1, ..., train_accuracy) to the
    /// file's key (a JSON key, `a.b` for a nested one; a CSV column; a W&B summary key).
    #[serde(flatten)]
    pub keys: BTreeMap<String, String>,
}

impl MetricsSpec {
    /// Refuses a spec that maps no metric or names one cifar-repro does not know.
    pub fn validate(&self) -> Result<(), String> {
        if self.keys.is_empty() {
            return Err(format!(
                "`metrics` maps no metric: give e.g. accuracy = \"val_acc\" (the metrics are {})",
                METRIC_NAMES.join(", ")
            ));
        }
        match self
            .keys
            .keys()
            .find(|k| !METRIC_NAMES.contains(&k.as_str()))
        {
            Some(unknown) => Err(format!(
                "metrics.{unknown} is not a metric: the metrics are {}",
                METRIC_NAMES.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// The format of the file at `path`.
    pub fn format_of(&self, path: &Path) -> MetricsFormat {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        self.format.unwrap_or(if name.ends_with(".csv") {
            MetricsFormat::Csv
        } else if name == "wandb-summary.json" {
            MetricsFormat::Wandb
        } else {
            MetricsFormat::Json
        })
    }
}

/// A file's value at a key, or why there is none.
type Lookup = Box<dyn Fn(&str) -> Result<f64, String>>;

/// Every mapped metric's value from the file at `path`, by cifar-repro's metric name; a
/// missing file, key or non-numeric value is an error naming it.
pub fn read_metrics(
    spec: &MetricsSpec,
    path: &Path,
) -> Result<BTreeMap<String, f64>, ProgramError> {
    let fail = |why: String| ProgramError::Metrics(format!("{}: {why}", path.display()));
    let text =
        crate::fsutil::read_capped(path, MAX_METRICS_BYTES).map_err(|e| fail(e.to_string()))?;
    let lookup: Lookup = match spec.format_of(path) {
        MetricsFormat::Csv => {
            let rows = csv_columns(&text).map_err(&fail)?;
            Box::new(move |key| match rows.get(key) {
                None => Err(format!("no row gives column {key:?}")),
                Some(cell) => cell
                    .parse()
                    .map_err(|_| format!("column {key:?} ends with {cell:?}, not a number")),
            })
        }
        format => {
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| fail(format!("not JSON ({e})")))?;
            if !json.is_object() {
                return Err(fail("not a JSON object".into()));
            }
            Box::new(move |key| json_number(&json, key, format == MetricsFormat::Json))
        }
    };
    spec.keys
        .iter()
        .map(|(metric, key)| {
            Ok((
                metric.clone(),
                lookup(key).map_err(|why| fail(format!("{metric}: {why}")))?,
            ))
        })
        .collect()
}

/// A number at `key` of a JSON object: the key itself, or with `nested` a dotted path; a
/// number, or a string such as "NaN" that parses as one.
fn json_number(json: &serde_json::Value, key: &str, nested: bool) -> Result<f64, String> {
    let value = json.get(key).or_else(|| {
        nested
            .then(|| key.split('.').try_fold(json, |v, part| v.get(part)))
            .flatten()
    });
    match value {
        None => Err(format!("no key {key:?}")),
        Some(serde_json::Value::Number(n)) => {
            n.as_f64().ok_or_else(|| format!("{key:?} is not a number"))
        }
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{key:?} is {s:?}, not a number")),
        Some(other) => Err(format!(
            "{key:?} is {}, not a number",
            crate::text::shorten(&other.to_string(), 80)
        )),
    }
}

/// For each column of a CSV with a header, the value of the last row that gives one (a
/// logger that writes training and validation metrics on rows of their own leaves cells
/// empty).
fn csv_columns(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("not CSV ({e})"))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("not CSV ({e})"))?;
        for (name, cell) in header.iter().zip(row.iter()) {
            if !cell.trim().is_empty() {
                last.insert(name.clone(), cell.trim().to_owned());
            }
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures tests/fixtures/programs/generate.py writes (json.dump, csv.DictWriter
    /// as Lightning's CSVLogger lays rows out, and wandb-core's summary layout).
    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/programs")
            .join(name)
    }

    fn spec(file: &str, keys: &[(&str, &str)]) -> MetricsSpec {
        MetricsSpec {
            file: file.into(),
            format: None,
            keys: keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn json_keys_are_read_exactly_or_by_a_dotted_path() {
        let spec = spec(
            "metrics.json",
            &[("accuracy", "val acc"), ("train_accuracy", "train.acc")],
        );
        let read = read_metrics(&spec, &fixture("metrics.json")).unwrap();
        assert_eq!(read["accuracy"], 0.5625);
        assert_eq!(read["train_accuracy"], 0.6875);
    }

    #[test]
    fn a_csv_gives_each_column_s_last_non_empty_cell() {
        let spec = spec(
            "metrics.csv",
            &[
                ("accuracy", "val_acc"),
                ("train_accuracy", "train_acc"),
                ("macro_f1", "val_f1"),
            ],
        );
        assert_eq!(spec.format_of(&fixture("metrics.csv")), MetricsFormat::Csv);
        let read = read_metrics(&spec, &fixture("metrics.csv")).unwrap();
        assert_eq!(read["accuracy"], 0.5625);
        assert_eq!(read["train_accuracy"], 0.6875);
        assert_eq!(read["macro_f1"], 0.546875);
    }

    #[test]
    fn a_wandb_summary_is_read_by_its_exact_keys() {
        let spec = spec(
            "wandb-summary.json",
            &[("accuracy", "val acc"), ("train_accuracy", "acc")],
        );
        let path = fixture("wandb-summary.json");
        assert_eq!(spec.format_of(&path), MetricsFormat::Wandb);
        let read = read_metrics(&spec, &path).unwrap();
        assert_eq!((read["accuracy"], read["train_accuracy"]), (0.5625, 0.6875));
        let dotted = super::tests::spec("wandb-summary.json", &[("accuracy", "_wandb.runtime")]);
        let refused = read_metrics(&dotted, &path).unwrap_err().to_string();
        assert!(refused.contains("no key \"_wandb.runtime\""), "{refused}");
    }

    #[test]
    fn a_missing_file_key_or_number_is_named() {
        let missing = read_metrics(
            &spec("m.json", &[("accuracy", "a")]),
            &fixture("absent.json"),
        )
        .unwrap_err();
        assert!(missing.to_string().contains("absent.json"), "{missing}");
        let key = read_metrics(
            &spec("m.json", &[("accuracy", "val_acc")]),
            &fixture("metrics.json"),
        )
        .unwrap_err();
        assert!(
            key.to_string().contains("accuracy: no key \"val_acc\""),
            "{key}"
        );
        let column = read_metrics(
            &spec("m.csv", &[("loss", "val_loss")]),
            &fixture("metrics.csv"),
        )
        .unwrap_err();
        assert!(
            column
                .to_string()
                .contains("no row gives column \"val_loss\""),
            "{column}"
        );
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("m.json");
        std::fs::write(&text, r#"{"acc": "high", "list": [1]}"#).unwrap();
        let word = read_metrics(&spec("m.json", &[("accuracy", "acc")]), &text).unwrap_err();
        assert!(
            word.to_string().contains("\"high\", not a number"),
            "{word}"
        );
        let list = read_metrics(&spec("m.json", &[("accuracy", "list")]), &text).unwrap_err();
        assert!(list.to_string().contains("not a number"), "{list}");
    }
}
