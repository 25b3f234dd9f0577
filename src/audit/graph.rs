//! An audit's runs as a graph: every distinct run the selected claims need, once, in the
//! order they need them, a two-stage run after the run it starts from (seed s of E6
//! after seed s of E3). Shards are dealt whole chains, so no shard waits for another.

use crate::config::TrainConfig;
use crate::hash::sha256_hex;
use crate::program::ProgramRun;
use std::path::PathBuf;

/// What a run is: a config cifar-repro trains, or a program it runs.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // an audit holds a few hundred nodes at most
pub enum Work {
    /// A run cifar-repro trains.
    Train(TrainConfig),
    /// A run of a training program.
    Program(ProgramRun),
}

impl Work {
    /// The config, for a run cifar-repro trains.
    pub fn config(&self) -> Option<&TrainConfig> {
        match self {
            Work::Train(config) => Some(config),
            Work::Program(_) => None,
        }
    }
}

/// One run an audit needs.
#[derive(Debug, Clone)]
pub struct RunNode {
    /// The first 16 hex digits of the SHA-256 of its config (and of what it starts from,
    /// its copy and whether it is a rehearsal), and its folder `runs/KEY`.
    pub key: String,
    pub folder: PathBuf,
    /// Its config (the seed set) or its program (the seed given).
    pub work: Work,
    /// Which of the audit's seeds it is.
    pub seed_index: usize,
    /// 0, or 1 for the second run of the same seed a reproducibility claim compares.
    pub copy: usize,
    /// The run it starts from (`init_from`), by index into the graph.
    pub prerequisite: Option<usize>,
    /// The claims that read it, directly or through a run that starts from it.
    pub claims: Vec<String>,
}

/// Every run, prerequisites before the runs that start from them.
#[derive(Debug, Clone, Default)]
pub struct RunGraph {
    pub nodes: Vec<RunNode>,
}

/// The key of a run of `config` (its seed set): the first 16 hex digits of the SHA-256 of
/// its TOML, plus what it starts from, its copy and a rehearsal mark where they apply (so
/// a plain run keeps the key earlier audits gave it).
pub fn run_key(
    config: &TrainConfig,
    prerequisite: Option<&str>,
    copy: usize,
    rehearsal: bool,
) -> Result<String, crate::config::ConfigError> {
    let mut text = config.to_toml()?;
    if let Some(key) = prerequisite {
        text.push_str(&format!("\n# starts from run {key}\n"));
    }
    Ok(key_of(text, copy, rehearsal))
}

/// The key of a run of a program: the SHA-256 of what its key covers (the command
/// template, the inputs' digests, the seed and device), its copy and a rehearsal mark.
pub fn program_key(run: &ProgramRun, copy: usize, rehearsal: bool) -> String {
    key_of(format!("program {}\n", run.key_text()), copy, rehearsal)
}

fn key_of(mut text: String, copy: usize, rehearsal: bool) -> String {
    if copy > 0 {
        text.push_str(&format!("\n# copy {copy}\n"));
    }
    if rehearsal {
        text.push_str("\n# rehearsal\n");
    }
    sha256_hex(text.as_bytes())[..16].to_owned()
}

impl RunGraph {
    /// Adds the run of `chain` (the run first, then the runs it starts from, nearest
    /// first; seeds set) for `claim`, its prerequisites before it; returns its index.
    pub fn add(
        &mut self,
        chain: &[TrainConfig],
        seed_index: usize,
        copy: usize,
        rehearsal: bool,
        claim: &str,
    ) -> Result<usize, crate::config::ConfigError> {
        let mut below: Option<usize> = None;
        for (depth, config) in chain.iter().enumerate().rev() {
            let copy = if depth == 0 { copy } else { 0 };
            let prerequisite = below.map(|i| self.nodes[i].key.clone());
            let key = run_key(config, prerequisite.as_deref(), copy, rehearsal)?;
            let node = RunNode {
                folder: PathBuf::from("runs").join(&key),
                key,
                work: Work::Train(config.clone()),
                seed_index,
                copy,
                prerequisite: below,
                claims: Vec::new(),
            };
            below = Some(self.insert(node, claim));
        }
        Ok(below.unwrap_or_default())
    }

    /// Adds replicate `seed_index`, copy `copy`, of a program for `claim`; returns its
    /// index.
    pub fn add_program(
        &mut self,
        run: ProgramRun,
        seed_index: usize,
        copy: usize,
        rehearsal: bool,
        claim: &str,
    ) -> usize {
        let key = program_key(&run, copy, rehearsal);
        let node = RunNode {
            folder: PathBuf::from("runs").join(&key),
            key,
            work: Work::Program(run),
            seed_index,
            copy,
            prerequisite: None,
            claims: Vec::new(),
        };
        self.insert(node, claim)
    }

    /// The index of the node with `node`'s key (added when new), now read by `claim`.
    fn insert(&mut self, node: RunNode, claim: &str) -> usize {
        let index = match self.nodes.iter().position(|n| n.key == node.key) {
            Some(i) => i,
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        let claims = &mut self.nodes[index].claims;
        if !claims.iter().any(|c| c == claim) {
            claims.push(claim.to_owned());
        }
        index
    }

    /// The runs in chains: each group holds runs linked by `init_from`, in the graph's
    /// order, the groups in the order of their first run.
    pub fn chains(&self) -> Vec<Vec<usize>> {
        let mut root: Vec<usize> = (0..self.nodes.len()).collect();
        fn find(root: &mut [usize], i: usize) -> usize {
            let mut i = i;
            while root[i] != i {
                root[i] = root[root[i]];
                i = root[i];
            }
            i
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(p) = node.prerequisite {
                let (a, b) = (find(&mut root, i), find(&mut root, p));
                root[a.max(b)] = a.min(b);
            }
        }
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in 0..self.nodes.len() {
            let r = find(&mut root, i);
            match groups.iter_mut().find(|(g, _)| *g == r) {
                Some((_, members)) => members.push(i),
                None => groups.push((r, vec![i])),
            }
        }
        groups.into_iter().map(|(_, members)| members).collect()
    }

    /// The runs part `index` of `count` trains: the chains dealt round-robin.
    pub fn shard(&self, index: usize, count: usize) -> Vec<usize> {
        let mut mine: Vec<usize> = self
            .chains()
            .into_iter()
            .enumerate()
            .filter(|(position, _)| position % count.max(1) == index)
            .flat_map(|(_, members)| members)
            .collect();
        mine.sort_unstable();
        mine
    }
}
