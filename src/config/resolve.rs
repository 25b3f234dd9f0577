//! The one way a run's config is found: what a user names (a config file or a preset),
//! then an overrides table merged over it, then the checks. `train`, `weights init`,
//! `bench epoch` and every audit run (and so the shard plan) go through it.

use super::{ConfigError, TrainConfig};
use std::path::Path;

/// A run's config and the name a run of it goes by (the file's stem or the preset).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub config: TrainConfig,
}

/// Resolves `source`: a config file (any existing file, or a name ending in `.toml`),
/// relative to `base_dir`, or else a preset name. `overrides` (TOML keys as in a config
/// file, e.g. `loop.seed`) are merged over it key by key before it is parsed and checked.
pub fn resolve(
    source: &str,
    base_dir: &Path,
    overrides: &toml::Table,
) -> Result<Resolved, ConfigError> {
    let path = base_dir.join(source);
    if path.is_file() || source.ends_with(".toml") {
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
        let name = path
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        let config = with_overrides(&text, overrides).map_err(|e| ConfigError::File {
            path,
            message: e.to_string(),
        })?;
        return Ok(Resolved { name, config });
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
    let mut table: toml::Table = toml::from_str(text)
        .map_err(|e| ConfigError::Toml(e.to_string().trim().replace('\n', " ")))?;
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
