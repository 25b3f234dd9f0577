//! The CIFAR-10 binary batch format: records of one label byte and 3,072 pixel bytes
//! (1,024 red, 1,024 green, 1,024 blue, row-major 32x32).

use super::DataError;

/// Bytes in one record.
pub const RECORD_BYTES: usize = 3073;
/// Bytes of one image (3 x 32 x 32).
pub const IMAGE_BYTES: usize = 3072;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// Checks a batch file's bytes and counts its records per class.
/// `file` names it in errors.
pub fn class_counts(file: &str, bytes: &[u8]) -> Result<[usize; NUM_CLASSES], DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty(file.to_owned()));
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::BadSize {
            file: file.to_owned(),
            size: bytes.len(),
        });
    }
    let mut counts = [0; NUM_CLASSES];
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = chunk[0];
        match counts.get_mut(label as usize) {
            Some(count) => *count += 1,
            None => {
                return Err(DataError::BadLabel {
                    file: file.to_owned(),
                    record,
                    label,
                });
            }
        }
    }
    Ok(counts)
}

/// The longest class name accepted (CIFAR-10's longest, `automobile`, has 10 letters).
pub const MAX_CLASS_NAME: usize = 64;

/// Parses `batches.meta.txt`: ten class names, one a line (blank lines ignored). A name
/// longer than [`MAX_CLASS_NAME`] characters, or holding a control character (which
/// would reach terminals and pages), is refused.
pub fn class_names(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::BadMeta {
        file: file.to_owned(),
        reason: "not UTF-8 text".into(),
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let bad = |reason: String| DataError::BadMeta {
        file: file.to_owned(),
        reason,
    };
    if names.len() != NUM_CLASSES {
        return Err(bad(format!(
            "{} class names, expected {NUM_CLASSES}",
            names.len()
        )));
    }
    for (line, name) in names.iter().enumerate() {
        if name.chars().count() > MAX_CLASS_NAME {
            return Err(bad(format!(
                "class name {} is {} characters long; at most {MAX_CLASS_NAME}",
                line + 1,
                name.chars().count()
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(bad(format!(
                "class name {} holds a control character",
                line + 1
            )));
        }
    }
    Ok(names)
}
