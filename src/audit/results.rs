//! Per-seed values from anywhere (PyTorch, W&B, MLflow exports), for `audit --results`:
//! a CSV with the columns `claim,seed,value` and, for relative claims, `than` (the
//! compared run's value for the same seed). A value that is not finite (`nan`, `inf`)
//! marks a diverged seed. Read with the `csv` crate (quoting, a byte-order mark, `#`
//! comments), in one pass: a million rows take about a second.

use super::claims::{Claim, Form, ParsedFile};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The largest results file read.
pub const MAX_RESULTS_BYTES: u64 = 512 << 20;

/// One row: a seed's value of a claim's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The seed, as the file writes it.
    pub seed: String,
    /// The claim's metric for that seed.
    pub value: f64,
    /// A relative claim's compared run, same seed.
    pub than: Option<f64>,
    /// Its line in the file, for messages.
    pub line: u64,
}

/// A claim's per-seed values, from its trained runs or from a results file.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedValues {
    /// The claim's metric, per seed (non-finite: the seed diverged).
    pub mine: Vec<f64>,
    /// For a relative claim, the compared run's metric for the same seeds.
    pub other: Option<Vec<f64>>,
    /// Run folders behind the values, relative to the audit folder (none for a file).
    pub runs: Vec<PathBuf>,
    /// Test images behind each value, when known.
    pub test_images: Option<u64>,
    /// What the seed check found (for trained runs).
    pub seed_check: Option<String>,
    /// Why each failed seed failed, where known (a program's exit status, signal or
    /// missing metric), in seed order.
    pub failures: Vec<String>,
}

/// The rows of a results file, by claim id, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// The file.
    pub path: PathBuf,
    /// Its rows, by claim id.
    pub rows: BTreeMap<String, Vec<Row>>,
}

/// A results file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A row that cannot be used.
    #[error("{}, line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// No rows for the claim.
    #[error("{} has no rows for this claim", .0.display())]
    NoRows(PathBuf),
    /// A relative claim's rows without `than`.
    #[error("{}: a relative claim needs `than` (the compared run's value) on every row", .0.display())]
    NoThan(PathBuf),
}

const HEADER: &str = "claim,seed,value or claim,seed,value,than";

impl Results {
    /// Reads a results CSV (at most [`MAX_RESULTS_BYTES`]); errors name the file and line.
    pub fn read(path: &Path) -> Result<Self, ResultsError> {
        let text = crate::fsutil::read_capped(path, MAX_RESULTS_BYTES).map_err(|source| {
            ResultsError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::parse(&text, path)
    }

    /// Parses results CSV text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ResultsError> {
        let fail = |line: u64, message: String| ResultsError::Line {
            path: path.to_owned(),
            line,
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .flexible(true)
            .from_reader(text.as_bytes());
        let header_line = |r: &csv::Reader<&[u8]>| r.position().line().max(1);
        let columns: Vec<String> = match reader.headers() {
            Ok(h) if !h.is_empty() => h.iter().map(str::to_owned).collect(),
            Ok(_) => return Err(fail(1, format!("empty: expected the header {HEADER}"))),
            Err(e) => return Err(fail(header_line(&reader), e.to_string())),
        };
        let with_than = match columns.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["claim", "seed", "value"] => false,
            ["claim", "seed", "value", "than"] => true,
            _ => {
                let found = crate::text::shorten(&columns.join(","), 80);
                return Err(fail(1, format!("header {found:?}: expected {HEADER}")));
            }
        };
        let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                fail(line, e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let row = parse_row(&record, with_than, line).map_err(|m| fail(line, m))?;
            let claim = record[0].to_owned();
            if !seen.insert((claim.clone(), row.seed.clone())) {
                let message = format!("claim {:?} has seed {:?} twice", claim, row.seed);
                return Err(fail(line, message));
            }
            rows.entry(claim).or_default().push(row);
        }
        Ok(Self {
            path: path.to_owned(),
            rows,
        })
    }

    /// Refuses rows whose claim id is not a claim of `file`, naming the first one's line.
    pub fn check_ids(&self, file: &ParsedFile) -> Result<(), ResultsError> {
        let known = |id: &str| {
            file.claims.iter().any(|c| match c {
                Ok(claim) => claim.id == id,
                Err(unparsed) => unparsed.id == id,
            })
        };
        match self.rows.iter().find(|(id, _)| !known(id)) {
            Some((id, rows)) => Err(ResultsError::Line {
                path: self.path.clone(),
                line: rows[0].line,
                message: format!(
                    "claim {:?} is not a claim of the claim file",
                    crate::text::shorten(id, 80)
                ),
            }),
            None => Ok(()),
        }
    }

    /// A claim's values and, for a relative claim, the compared run's; or why it cannot
    /// be judged (no rows, a missing `than`, a value outside the metric's domain). A file
    /// names no run folders and no test-set size (the claim's `test_images` is used).
    pub fn values(&self, claim: &Claim) -> Result<SeedValues, ResultsError> {
        let rows = self
            .rows
            .get(&claim.id)
            .ok_or_else(|| ResultsError::NoRows(self.path.clone()))?;
        let domain = claim.value_domain();
        let relative = matches!(claim.form(), Ok(Form::Difference(_) | Form::Effect(_)))
            && claim.than.is_some();
        for row in rows {
            let outside = [Some(row.value), row.than]
                .into_iter()
                .flatten()
                .find(|v| v.is_finite() && !domain.contains(v));
            if let Some(v) = outside {
                return Err(ResultsError::Line {
                    path: self.path.clone(),
                    line: row.line,
                    message: format!(
                        "{v} is outside the domain of {} ({}..={})",
                        claim.metric().name(),
                        domain.start(),
                        domain.end()
                    ),
                });
            }
        }
        let other = match relative {
            false => None,
            true => Some(
                rows.iter()
                    .map(|r| r.than)
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| ResultsError::NoThan(self.path.clone()))?,
            ),
        };
        Ok(SeedValues {
            mine: rows.iter().map(|r| r.value).collect(),
            other,
            runs: Vec::new(),
            test_images: None,
            seed_check: None,
            failures: Vec::new(),
        })
    }
}

/// A seed as one spelling: a whole number, however written (`2`, `02`, `2.0`, `+2`,
/// `0x2`), as its decimal digits, so that one seed cannot be counted twice; any other
/// name (`run-a`) as written.
fn canonical_seed(text: &str) -> String {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    let decimal = t
        .parse::<f64>()
        .ok()
        .filter(|x| x.fract() == 0.0 && (0.0..=9.0e15).contains(x))
        .map(|x| x as u64);
    hex.or(decimal)
        .map_or_else(|| t.to_owned(), |n| n.to_string())
}

/// One record's seed, value and `than`.
fn parse_row(record: &csv::StringRecord, with_than: bool, line: u64) -> Result<Row, String> {
    let width = if with_than { 4 } else { 3 };
    if record.len() != width {
        return Err(format!("{} fields, the header has {width}", record.len()));
    }
    let number = |name: &str, text: &str| -> Result<f64, String> {
        text.parse::<f64>().map_err(|_| {
            format!(
                "{name} {:?} is not a number",
                crate::text::shorten(text, 40)
            )
        })
    };
    let than = match record.get(3) {
        Some(t) if with_than && !t.is_empty() => Some(number("than", t)?),
        _ => None,
    };
    Ok(Row {
        seed: canonical_seed(&record[1]),
        value: number("value", &record[2])?,
        than,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::canonical_seed;

    #[test]
    fn one_seed_has_one_spelling() {
        for spelling in ["2", "02", "2.0", "+2", "0x2", " 2 "] {
            assert_eq!(canonical_seed(spelling), "2", "{spelling}");
        }
        assert_eq!(canonical_seed("run-a"), "run-a");
        assert_eq!(canonical_seed("2.5"), "2.5");
        assert_eq!(canonical_seed("-1"), "-1");
    }
}
