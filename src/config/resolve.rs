//! The one way a run's config is found: what a user names (a config file or a preset),
//! then an overrides table merged over it, then the checks. `train`, `weights init`,
//! `bench epoch` and every audit run (and so the shard plan) go through it.

use super::{ConfigError, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A run: a preset or config file, with TOML overrides merged over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// A preset name or a config file (relative to the file that names it).
    pub run: String,
    /// Keys merged over the config, e.g. `{ loop = { epochs = 3 } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<toml::Table>,
}

impl RunSpec {
    /// A preset without overrides.
    pub fn preset(name: &str) -> Self {
        Self {
            run: name.to_owned(),
            overrides: None,
        }
    }

    /// The run's config: the preset or file (relative to `base_dir`), with the overrides
    /// merged over it.
    pub fn resolve(&self, base_dir: &Path) -> Result<Resolved, ConfigError> {
        resolve(
            &self.run,
            base_dir,
            self.overrides.as_ref().unwrap_or(&toml::Table::new()),
        )
    }

    /// `run` and its overrides on one line, as messages name a run.
    pub fn describe(&self) -> String {
        match &self.overrides {
            Some(o) if !o.is_empty() => format!("{} with {}", self.run, inline(o)),
            _ => self.run.clone(),
        }
    }
}

/// A TOML table on one line (`{ loop = { epochs = 3 } }`).
fn inline(table: &toml::Table) -> String {
    let value = toml::Value::Table(table.clone());
    let mut text = String::new();
    let _ = serde::Serialize::serialize(&value, toml::ser::ValueSerializer::new(&mut text));
    text
}

/// A run's config, the name a run of it goes by (the file's stem or the preset), and the
/// folder its own relative paths (`init_from`) are read from.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The file's stem or the preset's name.
    pub name: String,
    /// The checked config, overrides applied.
    pub config: TrainConfig,
    /// Where its relative paths are read from.
    pub base_dir: PathBuf,
}

/// How long a chain of `init_from` runs may be.
pub const MAX_CHAIN: usize = 8;

impl Resolved {
    /// The runs this one starts from (`init_from`), nearest first, each with this run's
    /// seed and data (seed s of a two-stage run starts from seed s of its first stage).
    /// A chain that comes back to a run, or is longer than [`MAX_CHAIN`], is an error.
    pub fn chain(&self) -> Result<Vec<Resolved>, ConfigError> {
        let mut chain: Vec<Resolved> = Vec::new();
        let mut names = vec![self.name.clone()];
        let mut current = self;
        while let Some(spec) = &current.config.init_from {
            let mut next = spec.resolve(&current.base_dir)?;
            next.config.loop_.seed = self.config.loop_.seed;
            next.config.data = self.config.data.clone();
            names.push(spec.describe());
            let seen = std::iter::once(&self.config)
                .chain(chain.iter().map(|r| &r.config))
                .any(|c| same_recipe(c, &next.config));
            if seen || chain.len() == MAX_CHAIN {
                return Err(ConfigError::Chain(names.join(" -> ")));
            }
            chain.push(next);
            current = &chain[chain.len() - 1];
        }
        Ok(chain)
    }
}

/// Whether two configs train the same weights: equal but for the description, where the
/// data lies (its files are compared by hash elsewhere), the device and thread count.
pub fn same_recipe(a: &TrainConfig, b: &TrainConfig) -> bool {
    recipe_difference(a, b).is_none()
}

/// The first line of the recipe (see [`same_recipe`]) in which `a` and `b` differ, as
/// `a`'s line and `b`'s; none when they train the same weights.
pub fn recipe_difference(a: &TrainConfig, b: &TrainConfig) -> Option<(String, String)> {
    let recipe = |c: &TrainConfig| {
        let mut c = c.clone();
        c.description = String::new();
        c.data = PathBuf::new();
        c.loop_.device = super::DeviceChoice::Auto;
        c.loop_.threads = 0;
        // A config TOML cannot hold is compared by its whole Debug form, never as "".
        c.to_toml().unwrap_or_else(|_| format!("{c:#?}"))
    };
    let (a, b) = (recipe(a), recipe(b));
    let (mut la, mut lb) = (a.lines(), b.lines());
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some((
                    x.unwrap_or("(nothing)").to_owned(),
                    y.unwrap_or("(nothing)").to_owned(),
                ));
            }
        }
    }
}

/// The largest run config read (a real one is a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Resolves `source`: a config file (a name ending in `.toml`, relative to `base_dir`), or
/// else a preset name. Nothing but a `.toml` file is ever read, and what is read is
/// refused, when it is not a run config, without quoting it. `overrides` (TOML keys as in a config
/// file, e.g. `loop.seed`) are merged over it key by key before it is parsed and checked.
pub fn resolve(
    source: &str,
    base_dir: &Path,
    overrides: &toml::Table,
) -> Result<Resolved, ConfigError> {
    let path = base_dir.join(source);
    if source.ends_with(".toml") {
        let text = crate::fsutil::read_capped(&path, MAX_CONFIG_BYTES)
            .map_err(|e| file_error(&path, e))?;
        let name = path
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        let base_dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        let config = with_overrides(&text, overrides).map_err(|e| ConfigError::File {
            path,
            message: e.to_string(),
        })?;
        return Ok(Resolved {
            name,
            config,
            base_dir,
        });
    }
    let preset = TrainConfig::preset(source)?;
    let config = if overrides.is_empty() {
        preset.validate()?;
        preset
    } else {
        with_overrides(&preset.to_toml()?, overrides)
            .map_err(|e| ConfigError::Overridden(source.to_owned(), Box::new(e)))?
    };
    Ok(Resolved {
        name: source.to_owned(),
        config,
        base_dir: base_dir.to_owned(),
    })
}

fn file_error(path: &Path, e: std::io::Error) -> ConfigError {
    let message = if e.kind() == std::io::ErrorKind::NotFound {
        "no such config file".to_owned()
    } else {
        e.to_string()
    };
    ConfigError::File {
        path: path.to_owned(),
        message,
    }
}

fn with_overrides(text: &str, overrides: &toml::Table) -> Result<TrainConfig, ConfigError> {
    if overrides.is_empty() {
        return TrainConfig::from_toml(text);
    }
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Toml(crate::text::toml_error(text, &e)))?;
    merge(&mut table, overrides);
    let text = toml::to_string(&table).map_err(|e| ConfigError::Serialize(e.to_string()))?;
    TrainConfig::from_toml(&text)
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
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

/// Sets `dotted` (e.g. `loop.seed`) in an overrides table.
pub fn set_override(overrides: &mut toml::Table, dotted: &str, value: impl Into<toml::Value>) {
    let mut table = overrides;
    let mut keys = dotted.split('.').peekable();
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            table.insert(key.to_owned(), value.into());
            return;
        }
        let entry = table
            .entry(key.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else {
            return;
        };
        table = inner;
    }
}
