//! The last value of each metric of one MLflow run, read from MLflow's file store
//! (mlflow/store/tracking/file_store.py): a run folder `mlruns/EXPERIMENT_ID/RUN_ID/` holds
//! `metrics/KEY`, one file per metric (a key with `/` in folders), each line
//! `TIMESTAMP VALUE STEP` appended by `log_metric`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest metric file read.
const MAX_METRIC_FILE_BYTES: u64 = 256 << 20;
/// The most of a bad line an error quotes.
const QUOTED_CHARS: usize = 80;

/// One line of a metric file.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    /// Milliseconds since the epoch.
    timestamp: i64,
    /// The value.
    value: f64,
    /// The step (0 on a line that has none).
    step: i64,
}

/// The last value of every metric of one MLflow run in a file store: `path` is the run's
/// folder (mlruns/EXPERIMENT_ID/RUN_ID, holding metrics/) or its metrics/ folder. Each metric
/// file holds lines "TIMESTAMP VALUE STEP"; the last value is the one of the highest step,
/// on a tie the latest timestamp, then the later line. Nested names (metrics/val/acc) are
/// keyed "val/acc".
pub fn last_metrics(path: &Path) -> Result<BTreeMap<String, f64>, String> {
    let dir = metrics_dir(path)?;
    let files = crate::fsutil::files_under(&dir, &|_| true)?;
    let mut last = BTreeMap::new();
    for file in files {
        let key = metric_key(&dir, &file)?;
        if let Some(point) = last_point(&file)? {
            last.insert(key, point.value);
        }
    }
    Ok(last)
}

/// The run's metrics folder: `path/metrics`, or `path` itself when it is one.
fn metrics_dir(path: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let inner = path.join("metrics");
    let is_run = path.join("meta.yaml").is_file() && inner.is_dir();
    if meta.is_dir() && !is_run && path.file_name().is_some_and(|n| n == "metrics") {
        Ok(path.to_path_buf())
    } else if inner.is_dir() {
        Ok(inner)
    } else {
        Err(format!(
            "{}: not an MLflow run folder (no metrics/ folder in it): give \
             mlruns/EXPERIMENT_ID/RUN_ID or its metrics/",
            path.display()
        ))
    }
}

/// A metric's name: its file's path under `dir`, joined with `/`.
fn metric_key(dir: &Path, file: &Path) -> Result<String, String> {
    let relative = file
        .strip_prefix(dir)
        .map_err(|_| format!("{}: not under {}", file.display(), dir.display()))?;
    let parts = relative
        .iter()
        .map(|part| part.to_str())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("{}: a metric name that is not UTF-8", file.display()))?;
    Ok(parts.join("/"))
}

/// The point of the highest step in a metric file, on a tie the latest timestamp, then the
/// later line; `None` for an empty file.
fn last_point(file: &Path) -> Result<Option<Point>, String> {
    let bytes = read_capped(file)?;
    let mut last: Option<Point> = None;
    let mut lines = bytes.split(|b| *b == b'\n').enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        if line.is_empty() && lines.peek().is_none() {
            break; // after the final newline
        }
        let point =
            parse_line(line).map_err(|e| format!("{}:{}: {e}", file.display(), index + 1))?;
        if last.is_none_or(|p| (point.step, point.timestamp) >= (p.step, p.timestamp)) {
            last = Some(point);
        }
    }
    Ok(last)
}

/// One line: `TIMESTAMP VALUE`, `TIMESTAMP VALUE STEP` or, for a metric logged with a
/// dataset, `TIMESTAMP VALUE STEP DATASET_NAME DATASET_DIGEST` (what MLflow itself reads).
fn parse_line(line: &[u8]) -> Result<Point, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 text".to_string())?;
    let quoted = || {
        let mut quote: String = text.trim().chars().take(QUOTED_CHARS).collect();
        if quote.len() < text.trim().len() {
            quote.push_str("...");
        }
        quote
    };
    if text.trim().is_empty() {
        return Err("an empty line".into());
    }
    let fields: Vec<&str> = text.trim().split(' ').collect();
    let (timestamp, value, step) = match fields[..] {
        [t, v] => (t, v, "0"),
        [t, v, s] | [t, v, s, _, _] => (t, v, s),
        _ => {
            return Err(format!(
                "`{}`: {} fields, expected TIMESTAMP VALUE STEP",
                quoted(),
                fields.len()
            ));
        }
    };
    let bad = |what: &str| format!("`{}`: the {what} is not a number", quoted());
    Ok(Point {
        timestamp: timestamp.parse().map_err(|_| bad("timestamp"))?,
        value: value.parse().map_err(|_| bad("value"))?,
        step: step.parse().map_err(|_| bad("step"))?,
    })
}

/// The whole file, refused past [`MAX_METRIC_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    crate::fsutil::read_bytes_capped(path, MAX_METRIC_FILE_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one run tests/fixtures/programs/generate_logs.py logged with MLflow (its id is
    /// new on each generation).
    fn fixture_run() -> PathBuf {
        let experiment =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/programs/mlruns/0");
        let runs: Vec<PathBuf> = std::fs::read_dir(&experiment)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("metrics").is_dir())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    }

    /// A run folder in a new temporary folder with one metric file holding `text`.
    fn run_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("mlruns/0/abc");
        let file = run.join("metrics").join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(run.join("meta.yaml"), "run_id: abc\n").unwrap();
        std::fs::write(&file, text).unwrap();
        (dir, run)
    }

    #[test]
    fn the_fixture_run_gives_each_metric_s_last_value() {
        let expected = BTreeMap::from([
            // Step 2 is the highest; a step-1 line after it does not win.
            ("loss".to_string(), 0.3),
            // Two lines at step 1: the later timestamp, though on the earlier line.
            ("val/acc".to_string(), 0.7),
            // Logged without a step: step 0.
            ("final".to_string(), 0.25),
        ]);
        let run = fixture_run();
        assert_eq!(last_metrics(&run).unwrap(), expected);
        assert_eq!(last_metrics(&run.join("metrics")).unwrap(), expected);
    }

    #[test]
    fn a_tie_on_step_and_timestamp_goes_to_the_later_line() {
        let (_dir, run) = run_with("acc", "5 0.5 1\n5 0.25 1\n4 0.75 1\n");
        assert_eq!(last_metrics(&run).unwrap()["acc"], 0.25);
    }

    #[test]
    fn two_and_five_field_lines_are_read_as_mlflow_reads_them() {
        let (_dir, run) = run_with("acc", "9 0.5\n1 0.75 1 val_set 1a2b\n2 nan 0");
        assert_eq!(last_metrics(&run).unwrap()["acc"], 0.75);
    }

    #[test]
    fn a_bad_line_is_an_error_naming_the_file_and_line() {
        let (_dir, run) = run_with("val/acc", "1 0.5 0\n2 0.5x 1\n");
        let err = last_metrics(&run).unwrap_err();
        let file = run.join("metrics/val/acc");
        assert!(err.starts_with(&format!("{}:2: ", file.display())), "{err}");
        assert!(err.contains("value is not a number"), "{err}");
        for text in [
            "1 0.5 0\n\n2 0.6 1\n",
            "1 0.5 0 x\n",
            "1 0.5 z\n",
            "\u{fffd}\n",
        ] {
            let (_dir, run) = run_with("acc", text);
            let err = last_metrics(&run).unwrap_err();
            assert!(err.contains("metrics/acc:"), "{text:?}: {err}");
        }
        let (_dir, run) = run_with("acc", "1 0.5 0\n");
        std::fs::write(run.join("metrics/acc"), b"1 0.5 \xff\n").unwrap();
        assert!(
            last_metrics(&run)
                .unwrap_err()
                .ends_with("acc:1: not UTF-8 text")
        );
    }

    #[test]
    fn a_missing_folder_or_one_without_metrics_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("mlruns/0/nope");
        let err = last_metrics(&missing).unwrap_err();
        assert!(err.starts_with(&missing.display().to_string()), "{err}");
        let err = last_metrics(dir.path()).unwrap_err();
        assert!(err.contains("not an MLflow run folder"), "{err}");
    }

    #[test]
    fn an_empty_metric_file_gives_no_value_and_a_huge_one_is_refused() {
        let (_dir, run) = run_with("acc", "");
        assert_eq!(last_metrics(&run).unwrap(), BTreeMap::new());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(run.join("metrics/acc"))
            .unwrap();
        file.set_len(MAX_METRIC_FILE_BYTES + 1).unwrap();
        let err = last_metrics(&run).unwrap_err();
        assert!(err.contains("256 MiB cap"), "{err}");
    }
}
