//! A program's metrics, read where it already writes them: its stdout or stderr (a
//! regular expression per metric), a JSON object (`json.dump`), the last row that gives
//! each column of a CSV (`csv.DictWriter`, as Lightning's CSVLogger writes), a W&B run
//! summary (`wandb-summary.json`), a `torch.save` checkpoint (a number at a key path),
//! TensorBoard event files or an MLflow run; each value times `scale`, then checked
//! against the metric's domain.

use super::ProgramError;
use super::spec::METRIC_NAMES;
use crate::text::Shown;
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
    /// Text (a log, stdout, stderr): each metric's key is a regular expression with one
    /// capture group; its last match counts, over lines split on `\n` and `\r`.
    Text,
    /// A `torch.save` file of a dict: a number at a key path.
    Pth,
    /// TensorBoard event files (a file or a folder): a scalar tag's last value.
    Tensorboard,
    /// An MLflow run folder of a file store (`mlruns/EXP/RUN`): a metric's last value.
    Mlflow,
}

/// Where a program's metrics are and which key holds each.
/// Unknown keys are not rejected by serde (the metric names are flattened into `keys`);
/// [`MetricsSpec::validate`] refuses any key that is not a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSpec {
    /// The file or folder (a template, e.g. `{out}/metrics.json`); none with `stdout` or
    /// `stderr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Read the program's stdout (format text).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdout: bool,
    /// Read the program's stderr (format text).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stderr: bool,
    /// json, csv, wandb, text, pth, tensorboard or mlflow [default: text for stdout and
    /// stderr, csv for a `.csv`, wandb for `wandb-summary.json`, pth for `.pth`, `.pt`
    /// and `.ckpt`, tensorboard for a `tfevents` file, else json].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<MetricsFormat>,
    /// Every value is multiplied by it: 0.01 for a program that writes percentages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// cifar-repro's metric name (accuracy, loss, macro_f1, ..., train_accuracy) to the
    /// source's key (a JSON key, `a.b` for a nested one; a CSV column; a W&B summary key;
    /// a checkpoint's key path; a TensorBoard tag; an MLflow metric; a regular expression).
    #[serde(flatten)]
    pub keys: BTreeMap<String, String>,
}

/// The values a metric of a program can take: a proportion, a gap between two, a loss.
pub fn metric_domain(name: &str) -> std::ops::RangeInclusive<f64> {
    match name {
        "loss" | "train_loss" => 0.0..=f64::MAX,
        "train_test_gap" => -1.0..=1.0,
        _ => 0.0..=1.0,
    }
}

impl MetricsSpec {
    /// Refuses a spec that maps no metric, names one cifar-repro does not know, names no
    /// source or two, has a scale that is not a positive number, or a pattern that is not
    /// a regular expression with one capture group.
    pub fn validate(&self) -> Result<(), String> {
        if self.keys.is_empty() {
            return Err(format!(
                "`metrics` maps no metric: give e.g. accuracy = \"val_acc\" (the metrics are {})",
                METRIC_NAMES.join(", ")
            ));
        }
        if let Some(unknown) = self
            .keys
            .keys()
            .find(|k| !METRIC_NAMES.contains(&k.as_str()))
        {
            return Err(format!(
                "metrics.{unknown} is not a metric: the metrics are {}",
                METRIC_NAMES.join(", ")
            ));
        }
        let sources =
            usize::from(self.file.is_some()) + usize::from(self.stdout) + usize::from(self.stderr);
        if sources != 1 {
            return Err("`metrics` reads one source: give `file = \"...\"`, `stdout = true` or `stderr = true`".into());
        }
        if self.scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
            return Err(format!(
                "metrics.scale = {:?} must be a positive number (0.01 for percentages)",
                self.scale.unwrap_or_default()
            ));
        }
        if self.format_of(Path::new(self.file.as_deref().unwrap_or(""))) == MetricsFormat::Text {
            for (metric, pattern) in &self.keys {
                pattern_of(pattern).map_err(|why| format!("metrics.{metric}: {why}"))?;
            }
        }
        Ok(())
    }

    /// The format of the source at `path`.
    pub fn format_of(&self, path: &Path) -> MetricsFormat {
        if let Some(format) = self.format {
            return format;
        }
        if self.stdout || self.stderr {
            return MetricsFormat::Text;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
        match extension {
            _ if name == "wandb-summary.json" => MetricsFormat::Wandb,
            _ if name.contains("tfevents") => MetricsFormat::Tensorboard,
            "csv" => MetricsFormat::Csv,
            "pth" | "pt" | "ckpt" => MetricsFormat::Pth,
            "log" | "txt" => MetricsFormat::Text,
            _ => MetricsFormat::Json,
        }
    }
}

/// A metric pattern compiled: a regular expression with exactly one capture group.
fn pattern_of(pattern: &str) -> Result<regex::Regex, String> {
    let regex = regex::Regex::new(pattern).map_err(|e| format!("not a regular expression: {e}"))?;
    match regex.captures_len() {
        2 => Ok(regex),
        n => Err(format!(
            "{pattern:?} has {} capture groups; give exactly one around the number, e.g. 'Acc: ([0-9.]+)%'",
            n - 1
        )),
    }
}

/// A source's value at a key, or why there is none.
type Lookup = Box<dyn Fn(&str) -> Result<f64, String>>;

/// Every mapped metric's value from the source at `path` (a file, a folder, or the file
/// holding the program's stdout or stderr), by cifar-repro's metric name, scaled and
/// checked against its domain; a missing source, key or number, or a value outside the
/// domain, is an error naming it.
pub fn read_metrics(
    spec: &MetricsSpec,
    path: &Path,
) -> Result<BTreeMap<String, f64>, ProgramError> {
    let fail = |why: String| ProgramError::Metrics(format!("{}: {why}", path.display()));
    let lookup = lookup(spec.format_of(path), path).map_err(&fail)?;
    let scale = spec.scale.unwrap_or(1.0);
    spec.keys
        .iter()
        .map(|(metric, key)| {
            let value = lookup(key)
                .map(|v| v * scale)
                .and_then(|v| in_domain(metric, v, spec.scale.is_some()))
                .map_err(|why| fail(format!("{metric}: {why}")))?;
            Ok((metric.clone(), value))
        })
        .collect()
}

/// `value` when it lies in the metric's domain (a non-finite value is a diverged run's
/// and passes); else why not, naming `scale = 0.01` for what looks like a percentage.
fn in_domain(metric: &str, value: f64, scaled: bool) -> Result<f64, String> {
    let domain = metric_domain(metric);
    if !value.is_finite() || domain.contains(&value) {
        return Ok(value);
    }
    let shown = value.shown();
    let end = match *domain.end() {
        f64::MAX => "∞".to_owned(),
        end => end.shown(),
    };
    let range = format!("[{}, {end}]", domain.start().shown());
    if *domain.end() == 1.0 && (1.0..=100.0).contains(&value.abs()) && !scaled {
        return Err(format!(
            "{shown} is outside {range}: it looks like a percentage; give scale = 0.01 in the runner's metrics"
        ));
    }
    Err(format!("{shown} is outside the metric's range {range}"))
}

/// How to look a key up in the source at `path`.
fn lookup(format: MetricsFormat, path: &Path) -> Result<Lookup, String> {
    // Lossy: a log cut at 16 MiB ([`super::capture`]) or a progress bar may hold a
    // character split in two; the numbers read are ASCII.
    let text = || {
        crate::fsutil::read_bytes_capped(path, MAX_METRICS_BYTES)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|e| e.to_string())
    };
    Ok(match format {
        MetricsFormat::Csv => {
            let rows = csv_columns(&text()?)?;
            Box::new(move |key| match rows.get(key) {
                None => Err(format!("no row gives column {key:?}")),
                Some(cell) => cell
                    .parse()
                    .map_err(|_| format!("column {key:?} ends with {cell:?}, not a number")),
            })
        }
        MetricsFormat::Text => {
            let text = text()?;
            Box::new(move |pattern| last_match(&text, pattern))
        }
        MetricsFormat::Pth => {
            let path = path.to_owned();
            Box::new(move |key| {
                crate::pth::read_number(&path, key).map_err(|e| strip_path(&e.to_string(), &path))
            })
        }
        MetricsFormat::Tensorboard => by_name(super::tensorboard::last_scalars(path)?, "tag"),
        MetricsFormat::Mlflow => by_name(super::mlflow::last_metrics(path)?, "metric"),
        format => {
            let text = text()?;
            serde_json::from_str::<UniqueKeys>(&text).map_err(|e| format!("not JSON ({e})"))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("not JSON ({e})"))?;
            if !json.is_object() {
                return Err("not a JSON object".into());
            }
            Box::new(move |key| json_number(&json, key, format == MetricsFormat::Json))
        }
    })
}

/// JSON read only to refuse an object that names a key twice (serde_json keeps the
/// last, so `{"acc": 0.1, "acc": 0.9}` would be read as 0.9 without a word).
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let key = crate::text::shorten(&key, 80);
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(self)
    }
}

/// A lookup in a map of named values (TensorBoard tags, MLflow metrics).
fn by_name(values: BTreeMap<String, f64>, what: &'static str) -> Lookup {
    Box::new(move |key| {
        values.get(key).copied().ok_or_else(|| {
            let names: Vec<&str> = values.keys().map(String::as_str).take(20).collect();
            format!("no {what} {key:?} (there are: {})", names.join(", "))
        })
    })
}

/// An error's text without the path the caller names already.
fn strip_path(text: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).unwrap_or(text).to_owned()
}

/// The number the pattern's capture group takes at its last match in `text`, over lines
/// split on `\n` and `\r` (a progress bar rewrites its line with `\r`).
fn last_match(text: &str, pattern: &str) -> Result<f64, String> {
    let regex = pattern_of(pattern)?;
    let captured = text
        .split(['\n', '\r'])
        .rev()
        .find_map(|line| regex.captures(line)?.get(1))
        .ok_or_else(|| format!("no line matches {pattern:?}"))?;
    let cell = captured.as_str().trim();
    cell.parse()
        .map_err(|_| format!("{pattern:?} last captured {cell:?}, not a number"))
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
            file: Some(file.into()),
            stdout: false,
            stderr: false,
            format: None,
            scale: None,
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
    fn a_json_key_written_twice_is_refused_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        let spec = spec("metrics.json", &[("accuracy", "acc")]);
        for text in [
            r#"{"acc": 0.1, "acc": 0.9}"#,
            r#"{"acc": 0.1, "more": [{"x": 1, "x": 2}]}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_metrics(&spec, &path).unwrap_err().to_string();
            assert!(err.contains("appears twice"), "{err}");
        }
        std::fs::write(&path, r#"{"acc": 0.1, "more": [{"x": 1}, {"x": 2}]}"#).unwrap();
        assert_eq!(read_metrics(&spec, &path).unwrap()["accuracy"], 0.1);
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
    fn a_progress_bar_s_last_match_counts_scaled() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdout.txt");
        let bar = "Loss: 2.1 | Acc: 10.000% (10/100)\rLoss: 2.0 | Acc: 22.500% (225/1000)\r\nTest Acc: 30.500%\r";
        std::fs::write(&out, bar).unwrap();
        let mut spec = spec("", &[("accuracy", r"\bAcc: ([0-9.]+)%")]);
        (spec.file, spec.stdout, spec.scale) = (None, true, Some(0.01));
        assert!(spec.validate().is_ok());
        let read = read_metrics(&spec, &out).unwrap();
        assert_eq!(
            read["accuracy"],
            30.5 * 0.01,
            "the last match, after the last \\r"
        );
        spec.keys.insert("accuracy".into(), "Acc: [0-9.]+%".into());
        let no_group = spec.validate().unwrap_err();
        assert!(no_group.contains("0 capture groups"), "{no_group}");
    }

    #[test]
    fn a_log_cut_inside_a_character_still_gives_its_metric() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdout.txt");
        // A progress bar's block character cut in two where a long log is cut.
        let mut log = "100%|\u{2588}\u{2588}".as_bytes().to_vec();
        log.truncate(log.len() - 1);
        log.extend_from_slice(b"\nTest Acc: 61.500%\n");
        std::fs::write(&out, log).unwrap();
        let mut spec = spec("", &[("accuracy", r"Acc: ([0-9.]+)%")]);
        (spec.file, spec.stdout, spec.scale) = (None, true, Some(0.01));
        assert_eq!(read_metrics(&spec, &out).unwrap()["accuracy"], 0.615);
    }

    #[test]
    fn a_percentage_is_refused_naming_scale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, r#"{"acc": 22.72, "loss": 2.5}"#).unwrap();
        let refused = read_metrics(&spec("m.json", &[("accuracy", "acc")]), &path).unwrap_err();
        assert!(
            refused.to_string().contains("give scale = 0.01"),
            "{refused}"
        );
        let loss = read_metrics(&spec("m.json", &[("loss", "loss")]), &path).unwrap();
        assert_eq!(loss["loss"], 2.5);
        let mut scaled = spec("m.json", &[("accuracy", "acc")]);
        scaled.scale = Some(0.01);
        assert_eq!(
            read_metrics(&scaled, &path).unwrap()["accuracy"],
            22.72 * 0.01
        );
    }

    #[test]
    fn a_torch_checkpoint_gives_a_number_at_a_key_path() {
        let path = fixture("ckpt.pth");
        let spec = |key: &str| {
            let mut s = spec("ckpt.pth", &[("accuracy", key)]);
            s.scale = Some(0.01);
            s
        };
        assert_eq!(spec("acc").format_of(&path), MetricsFormat::Pth);
        assert_eq!(
            read_metrics(&spec("acc"), &path).unwrap()["accuracy"],
            56.25 * 0.01
        );
        let mut nested = spec("metrics.val_acc");
        nested.scale = None;
        assert_eq!(read_metrics(&nested, &path).unwrap()["accuracy"], 0.5625);
        let missing = read_metrics(&spec("val_acc"), &path)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("no key \"val_acc\"") && missing.contains("\"acc\""),
            "{missing}"
        );
        let not_number = read_metrics(&spec("net"), &path).unwrap_err().to_string();
        assert!(not_number.contains("not a number"), "{not_number}");
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
