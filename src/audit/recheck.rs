//! A finished run an audit reuses is not taken on its word: its final test metrics are
//! computed again from its final checkpoint (one evaluation pass) and must equal what its
//! manifest records. A manifest edited and resealed by someone holding the tool passes the
//! seal; it does not pass this. Evaluation is bit-exact only within a numerics class, so a
//! run trained in another class is reused with a warning instead.

use super::options::AuditOptions;
use crate::determinism::numerics::NumericsClass;
use crate::manifest::Manifest;
use crate::train::RunDir;
use std::path::Path;

/// This machine's numerics class at each thread count a reused run was trained with,
/// measured once per count.
#[derive(Default)]
pub struct Recheck {
    here: std::collections::HashMap<i32, Result<NumericsClass, String>>,
}

impl Recheck {
    /// Checks the reused run in `folder` (its `manifest` read) at the thread count it was
    /// trained with: Ok when its recorded final test metrics are what its checkpoint gives
    /// now, or when it was trained in another numerics class (then warned); else why it is
    /// refused, naming the folder.
    pub fn reused(
        &mut self,
        folder: &Path,
        manifest: &Manifest,
        options: &AuditOptions,
    ) -> Result<(), String> {
        let Some(trained) = &manifest.numerics else {
            return Ok(());
        };
        let before = tch::get_num_threads();
        if trained.threads > 0 {
            tch::set_num_threads(trained.threads);
        }
        let checked = self.at_threads(folder, trained, options);
        tch::set_num_threads(before);
        checked
    }

    /// [`Recheck::reused`] with libtorch's threads set as the run's were.
    fn at_threads(
        &mut self,
        folder: &Path,
        trained: &NumericsClass,
        options: &AuditOptions,
    ) -> Result<(), String> {
        let here = self
            .here
            .entry(trained.threads)
            .or_insert_with(|| {
                NumericsClass::measure(options.device, options.hooks.numerics_digest.as_deref())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| format!("measuring this machine's numerics class: {e}"))?;
        if trained.probe_sha256 != here.probe_sha256 {
            tracing::warn!(
                "{}: reused without recomputing its metrics: it was trained in numerics class {}, this machine is {}",
                folder.display(),
                trained.name,
                here.name
            );
            return Ok(());
        }
        let again = crate::train::recompute(&RunDir::open(folder), None, options.device)
            .map_err(|e| format!("{}: recomputing its final metrics: {e}", folder.display()))?;
        match again.difference() {
            None => Ok(()),
            Some(what) => Err(format!(
                "{}: its recorded test metrics do not match its checkpoint ({what}): its record was edited; the folder is kept as evidence, remove it to train the run again",
                folder.display()
            )),
        }
    }
}
