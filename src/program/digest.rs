//! Digests of what a program wrote: a file by its bytes, a folder as a tree of names and
//! bytes, and, for an output that is not there or cannot be read, why, in place of a
//! digest, so that two missing files never compare equal.

use crate::hash::{sha256_file, sha256_hex};
use std::path::Path;

/// The most entries a folder output may hold.
const MAX_TREE_ENTRIES: usize = 100_000;

/// The SHA-256 (hex) of the file at `path`, or of the tree of a folder; else why there is
/// none, starting "missing:" or "unreadable:".
pub fn output_digest(path: &Path) -> String {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return "missing: the program did not write it".into();
        }
        Err(e) => return format!("unreadable: {e}"),
    };
    let digest = if metadata.is_dir() {
        tree_digest(path)
    } else if metadata.is_file() {
        sha256_file(path).map_err(|e| e.to_string())
    } else {
        Err("not a file or a folder".into())
    };
    digest.unwrap_or_else(|why| format!("unreadable: {why}"))
}

/// Whether `text` is a digest (64 hex digits) rather than why there is none.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SHA-256 of a folder's tree: every entry's path relative to it, sorted, with a
/// file's SHA-256 or a link's target; a folder's own name and times do not count.
fn tree_digest(root: &Path) -> Result<String, String> {
    let mut lines = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let kind = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
            let line = if kind.is_dir() {
                stack.push(path.clone());
                format!("dir {relative}")
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
                format!("link {relative} -> {}", target.display())
            } else if kind.is_file() {
                let digest = sha256_file(&path).map_err(|e| format!("{relative}: {e}"))?;
                format!("file {relative} {digest}")
            } else {
                return Err(format!("{relative} is not a file, a folder or a link"));
            };
            lines.push(line);
            if lines.len() > MAX_TREE_ENTRIES {
                return Err(format!("more than {MAX_TREE_ENTRIES} entries"));
            }
        }
    }
    lines.sort();
    Ok(sha256_hex(lines.join("\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_output_is_never_a_digest_and_a_folder_is_hashed_by_names_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let missing = output_digest(&dir.path().join("model.pt"));
        assert!(
            missing.starts_with("missing:") && !is_digest(&missing),
            "{missing}"
        );
        let tree = dir.path().join("checkpoint");
        std::fs::create_dir_all(tree.join("inner")).unwrap();
        std::fs::write(tree.join("inner/a.bin"), b"weights").unwrap();
        let first = output_digest(&tree);
        assert!(is_digest(&first), "{first}");
        std::fs::write(tree.join("inner/a.bin"), b"weightz").unwrap();
        let bytes_changed = output_digest(&tree);
        std::fs::rename(tree.join("inner/a.bin"), tree.join("inner/b.bin")).unwrap();
        let renamed = output_digest(&tree);
        assert!(first != bytes_changed && bytes_changed != renamed);
        std::fs::write(dir.path().join("file"), b"weights").unwrap();
        assert_eq!(
            output_digest(&dir.path().join("file")),
            sha256_hex(b"weights")
        );
    }
}
