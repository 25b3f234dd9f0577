//! The library's layers (the module map in `src/lib.rs`): a module may use only modules
//! in layers below its own, so no arrow runs back up and no two modules need each other.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom first. The binary (`src/main.rs`, `src/cli/`) sits above them all.
const LAYERS: [&[&str]; 11] = [
    &["ffi", "fsutil", "text"],
    &["hash"],
    &["runtime", "download", "pth", "python"],
    &["data", "determinism", "metrics"],
    &["model", "optim", "augment"],
    &["config"],
    &["manifest"],
    &["run_dir"],
    &["train", "report", "bench", "program"],
    &["audit"],
    &["variance"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::NAME` a module's files mention, with the file that mentions it.
fn uses(src: &Path) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let module = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    found.push((module.clone(), name, relative.display().to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_uses_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = BTreeSet::new();
    for (module, used, file) in uses(&src) {
        if module == "cli" || module == "main" || module == "lib" {
            continue;
        }
        let (Some(from), Some(to)) = (layer(&module), layer(&used)) else {
            wrong.insert(format!(
                "{file}: {module} or {used} is in no layer of LAYERS"
            ));
            continue;
        };
        if to >= from {
            wrong.insert(format!(
                "{file}: {module} (layer {from}) uses {used} (layer {to})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", Vec::from_iter(wrong).join("\n"));
}
