//! Per-seed values from anywhere (PyTorch, W&B, MLflow exports), for `audit --results`:
//! a CSV with the columns `claim,seed,value` and, for relative claims, `than` (the
//! compared run's value for the same seed). A value that is not finite (`nan`, `inf`)
//! marks a diverged seed.

use super::claims::Claim;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row: a seed's value of a claim's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub seed: String,
    pub value: f64,
    pub than: Option<f64>,
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
}

/// The rows of a results file, by claim id, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub path: PathBuf,
    pub rows: BTreeMap<String, Vec<Row>>,
}

/// A results file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{} has no rows for this claim", .0.display())]
    NoRows(PathBuf),
    #[error("{}: a relative claim needs `than` (the compared run's value) on every row", .0.display())]
    NoThan(PathBuf),
}

impl Results {
    /// Reads a results CSV; errors name the file and line.
    pub fn read(path: &Path) -> Result<Self, ResultsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses results CSV text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ResultsError> {
        let fail = |line: usize, message: String| ResultsError::Line {
            path: path.to_owned(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let Some((header_line, header)) = lines.next() else {
            return Err(fail(
                1,
                "empty: expected the header claim,seed,value[,than]".into(),
            ));
        };
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let with_than = match columns.as_slice() {
            ["claim", "seed", "value"] => false,
            ["claim", "seed", "value", "than"] => true,
            _ => {
                return Err(fail(
                    header_line,
                    format!(
                        "header {header:?}: expected claim,seed,value or claim,seed,value,than"
                    ),
                ));
            }
        };
        let number = |line: usize, name: &str, text: &str| -> Result<f64, ResultsError> {
            text.parse::<f64>()
                .map_err(|_| fail(line, format!("{name} {text:?} is not a number")))
        };
        let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for (line, text) in lines {
            let fields: Vec<&str> = text.split(',').map(str::trim).collect();
            if fields.len() != columns.len() {
                return Err(fail(
                    line,
                    format!("{} fields, the header has {}", fields.len(), columns.len()),
                ));
            }
            let than = match (with_than, fields.get(3)) {
                (true, Some(t)) if !t.is_empty() => Some(number(line, "than", t)?),
                _ => None,
            };
            let seeds = rows.entry(fields[0].to_owned()).or_default();
            if seeds.iter().any(|r| r.seed == fields[1]) {
                return Err(fail(
                    line,
                    format!("claim {:?} has seed {:?} twice", fields[0], fields[1]),
                ));
            }
            seeds.push(Row {
                seed: fields[1].to_owned(),
                value: number(line, "value", fields[2])?,
                than,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            rows,
        })
    }

    /// A claim's values and, for a relative claim, the compared run's; or why it cannot
    /// be judged. A file names no run folders and no test-set size (the claim's
    /// `test_images` is used).
    pub fn values(&self, claim: &Claim) -> Result<SeedValues, ResultsError> {
        let rows = self
            .rows
            .get(&claim.id)
            .ok_or_else(|| ResultsError::NoRows(self.path.clone()))?;
        let other = match claim.relation {
            None => None,
            Some(_) => Some(
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
        })
    }
}
