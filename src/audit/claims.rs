//! Claim files (TOML, unknown keys rejected): what was claimed, about which run, and what
//! checking it requires.

use crate::config::{ConfigError, TrainConfig, resolve, set_override};
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
pub enum MetricSplit {
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
    pub split: MetricSplit,
    /// The claimed value (absolute claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// How many runs stand behind the claimed value (1, what a report usually means).
    #[serde(default = "one_run")]
    pub runs: usize,
    /// Their standard deviation; required when `runs` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// The equivalence margin: the smallest difference that matters (for a relative claim
    /// without `difference`, the smallest effect of interest). The file's `margin` when
    /// the claim gives none.
    #[serde(default)]
    pub margin: f64,
    /// A relative claim's claimed size: this run's metric minus the other's (e.g. +0.30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    /// Test images behind the metric, for the zero-variance floor of `--results` audits
    /// (a training audit reads it from its runs); CIFAR-10's 10,000 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_images: Option<u64>,
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
    /// Alternative readings of what the source leaves open, as config keys and the values
    /// each reading gives them, e.g. `{ "model.stem" = ["imagenet", "cifar"] }`. The claim
    /// is audited once per reading (every combination), each as its own claim named
    /// `ID [key=value]`, so the table shows which reading reproduces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpretations: Option<toml::Table>,
    /// The reading this claim is audited under (set when interpretations are expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

impl Claim {
    /// What makes the claim's statistics undefined, if anything: a missing or non-positive
    /// margin, runs without a spread, a difference that contradicts the relation, claimed
    /// numbers outside the metric's domain.
    fn shape_problem(&self) -> Option<String> {
        if !(self.margin > 0.0 && self.margin.is_finite()) {
            return Some(format!(
                "margin = {} must be positive: give the smallest difference that matters, on the claim or at the top of the file",
                self.margin
            ));
        }
        if !(1..=1_000_000).contains(&self.runs) {
            return Some(format!(
                "runs = {} is out of range: allowed 1..=1000000",
                self.runs
            ));
        }
        if self.runs > 1 && self.spread.is_none() {
            return Some(format!(
                "runs = {} needs `spread`, the standard deviation over those runs",
                self.runs
            ));
        }
        if self.difference.is_some() && self.relation.is_none() {
            return Some("`difference` belongs to a relative claim (`than` and `relation`)".into());
        }
        if let (Some(d), Some(relation)) = (self.difference, self.relation) {
            let agrees = match relation {
                Relation::Greater => d > 0.0,
                Relation::Less => d < 0.0,
            };
            if !agrees {
                return Some(format!(
                    "difference = {d} contradicts relation = {:?}",
                    relation
                ));
            }
        }
        if self.test_images == Some(0) {
            return Some("test_images must be at least 1".into());
        }
        self.domain_problem()
    }

    /// The zero-variance floor on a seed sample's standard deviation: the binomial
    /// standard deviation of a proportion measured on `test_images` images (for a gap,
    /// at p = 1/2), or 0.1% of a loss.
    pub fn sd_floor(&self, mean: f64, test_images: u64) -> f64 {
        let n = test_images.max(1) as f64;
        match self.metric {
            Metric::Loss => 1e-3 * mean.abs().max(1e-3),
            Metric::TrainTestGap => (0.25 / n).sqrt(),
            _ => {
                let p = mean.clamp(1.0 / n, 1.0 - 1.0 / n);
                (p * (1.0 - p) / n).sqrt()
            }
        }
    }

    /// Why the claimed numbers cannot be values of the claim's metric, if they cannot.
    fn domain_problem(&self) -> Option<String> {
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
        let width = domain.end() - domain.start();
        if let Some(d) = self.difference.filter(|d| !(-width..=width).contains(d)) {
            return Some(format!(
                "claimed difference {d} is larger than {metric} can differ by ({width})"
            ));
        }
        None
    }
}

fn one_run() -> usize {
    1
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
    /// The margin of every claim that gives none.
    #[serde(default)]
    margin: Option<f64>,
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
                let mut table = spanned.into_inner();
                if let (false, Some(margin)) = (table.contains_key("margin"), raw.margin) {
                    table.insert("margin".into(), toml::Value::Float(margin));
                }
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
                    (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                    _ => {
                        return fail(
                            "give either `value` (absolute) or both `than` and `relation` (relative)"
                                .into(),
                        );
                    }
                }
                if let Some(problem) = claim.shape_problem() {
                    return fail(problem);
                }
                claim.readings().map_err(|message| {
                    (id.clone(), format!("claim {id:?} (line {line}): {message}"))
                })
            })
            .flat_map(|expanded| match expanded {
                Ok(claims) => claims.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            })
            .collect();
        Ok(Self {
            source: raw.source,
            seed: raw.seed,
            claims,
        })
    }
}

impl Claim {
    /// The claim once per combination of its interpretations (itself when it has none),
    /// each reading merged into the overrides of its run and of the run it is compared
    /// with.
    fn readings(self) -> Result<Vec<Claim>, String> {
        let Some(table) = &self.interpretations else {
            return Ok(vec![self]);
        };
        let mut readings: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (key, values) in table {
            let values = values.as_array().filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("interpretations.{key:?} must be a non-empty list of values")
            })?;
            readings = readings
                .into_iter()
                .flat_map(|reading| {
                    values.iter().map(move |v| {
                        let mut next = reading.clone();
                        next.push((key.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        Ok(readings
            .into_iter()
            .map(|reading| {
                let label = reading
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut claim = self.clone();
                claim.id = format!("{} [{label}]", self.id);
                claim.reading = Some(label);
                claim.interpretations = None;
                for spec in std::iter::once(&mut claim.run).chain(claim.than.as_mut()) {
                    let overrides = spec.overrides.get_or_insert_with(toml::Table::new);
                    for (key, value) in &reading {
                        set_override(overrides, key, value.clone());
                    }
                }
                claim
            })
            .collect())
    }
}

impl RunSpec {
    /// The run's config: the preset or file, with the overrides merged over it.
    pub fn config(&self, base_dir: &Path) -> Result<TrainConfig, ConfigError> {
        let overrides = self.overrides.clone().unwrap_or_default();
        Ok(resolve(&self.run, base_dir, &overrides)?.config)
    }
}
