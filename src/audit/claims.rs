//! Claim files (TOML, unknown keys rejected): what was claimed, about which run, and what
//! checking it requires.

use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A run: a preset or config file, with TOML overrides merged over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// A preset name or a config file (relative to the claim file).
    pub run: String,
    /// Keys merged over the config, e.g. `{ loop = { epochs = 3 } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<toml::Table>,
}

/// Which number of a run a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Accuracy,
    Loss,
    MacroF1,
    MacroPrecision,
    MacroRecall,
    /// Final train accuracy minus final test accuracy.
    TrainTestGap,
}

impl Metric {
    /// The values the metric can take: a proportion in [0, 1], a gap between two
    /// proportions in [-1, 1], a loss in [0, ∞).
    pub fn domain(self) -> std::ops::RangeInclusive<f64> {
        match self {
            Metric::Accuracy | Metric::MacroF1 | Metric::MacroPrecision | Metric::MacroRecall => {
                0.0..=1.0
            }
            Metric::TrainTestGap => -1.0..=1.0,
            Metric::Loss => 0.0..=f64::MAX,
        }
    }
}

/// The split a metric is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    #[default]
    Test,
}

/// What checking a claim needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    #[serde(default)]
    pub full_data: bool,
    #[serde(default)]
    pub pretrained: bool,
    #[serde(default)]
    pub cuda: bool,
    /// GPU memory in GiB (checked only as a note; libtorch does not report free memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_memory_gb: Option<f64>,
}

/// How two runs compare in a relative claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Greater,
    Less,
}

/// One claim: absolute (`value`) or relative (`than` and `relation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    pub sentence: String,
    #[serde(flatten)]
    pub run: RunSpec,
    pub metric: Metric,
    #[serde(default)]
    pub split: Split,
    /// The claimed value (absolute claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The claimed spread (standard deviation over runs), when the claim gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// Absolute margin within which a measured mean counts as agreeing (default 0).
    #[serde(default)]
    pub tolerance: f64,
    /// Largest 95% half-width that still settles an absolute claim (default 0.02).
    #[serde(default = "default_precision")]
    pub precision: f64,
    /// The other run of a relative claim: this claim's metric `relation` that run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub than: Option<RunSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    #[serde(default)]
    pub requires: Requires,
    /// How the report's silences were filled, for the reader.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub choices: String,
}

impl Claim {
    /// Why the claimed numbers cannot be values of the claim's metric, if they cannot.
    pub fn domain_problem(&self) -> Option<String> {
        let domain = self.metric.domain();
        let metric = format!("{:?}", self.metric).to_lowercase();
        if let Some(v) = self.value.filter(|v| !domain.contains(v)) {
            return Some(format!(
                "claimed value {v} is outside the domain of {metric} ({}..={})",
                domain.start(),
                domain.end()
            ));
        }
        if let Some(s) = self.spread.filter(|s| !(s.is_finite() && *s >= 0.0)) {
            return Some(format!("claimed spread {s} must be a finite number >= 0"));
        }
        None
    }
}

fn default_precision() -> f64 {
    0.02
}

/// A claim file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The file's claims as read: each one parsed on its own, so that one bad claim does not
/// stop the others.
#[derive(Debug)]
pub struct ParsedFile {
    pub source: String,
    pub seed: u64,
    /// Each `[[claim]]` entry: the claim, or (its id if readable, the error naming the line).
    pub claims: Vec<Result<Claim, (String, String)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: String,
    #[serde(default)]
    seed: u64,
    claim: Vec<toml::Spanned<toml::Table>>,
}

impl ParsedFile {
    /// Reads a claim file; a file that is not TOML at all, or has unknown top-level keys, is
    /// an error naming the line.
    pub fn read(path: &Path) -> Result<Self, ClaimError> {
        let err = |message: String| ClaimError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    /// Parses claim-file text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut seen = std::collections::HashSet::new();
        let claims = raw
            .claim
            .into_iter()
            .map(|spanned| {
                let line = line_of(spanned.span().start);
                let table = spanned.into_inner();
                let id = table
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_owned();
                let fail = |message: String| {
                    Err((id.clone(), format!("claim {id:?} (line {line}): {message}")))
                };
                let claim: Claim = match table.try_into() {
                    Ok(claim) => claim,
                    Err(e) => return fail(e.to_string().trim().replace('\n', " ")),
                };
                if !seen.insert(claim.id.clone()) {
                    return fail("the id is used twice".into());
                }
                match (claim.value, &claim.than, claim.relation) {
                    (Some(_), None, None) | (None, Some(_), Some(_)) => Ok(claim),
                    _ => fail(
                        "give either `value` (absolute) or both `than` and `relation` (relative)"
                            .into(),
                    ),
                }
            })
            .collect();
        Ok(Self {
            source: raw.source,
            seed: raw.seed,
            claims,
        })
    }
}

impl RunSpec {
    /// The run's config: the preset or file, with the overrides merged over it.
    pub fn config(&self, base_dir: &Path) -> Result<TrainConfig, String> {
        let path = base_dir.join(&self.run);
        let base = if self.run.ends_with(".toml") {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            TrainConfig::preset(&self.run)
                .map_err(|e| e.to_string())?
                .to_toml()
        };
        let mut table: toml::Table = toml::from_str(&base).map_err(|e| e.to_string())?;
        if let Some(overrides) = &self.overrides {
            merge(&mut table, overrides);
        }
        let text = toml::to_string(&table).map_err(|e| e.to_string())?;
        TrainConfig::from_toml(&text).map_err(|e| format!("{} with overrides: {e}", self.run))
    }
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}
