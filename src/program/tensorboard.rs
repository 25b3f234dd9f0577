//! The last value of each scalar in a TensorBoard log, read without TensorFlow: event files
//! are TFRecord files of `Event` protobufs (tensorboard/compat/proto/event.proto,
//! summary.proto, tensor.proto), as torch's `SummaryWriter` and Lightning's
//! `TensorBoardLogger` write them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest event file read.
const MAX_EVENT_FILE_BYTES: u64 = 256 << 20;
/// A record's header: the data's length (u64, little-endian) and its masked CRC-32C.
const HEADER_BYTES: usize = 12;
/// The masked CRC-32C of the data, after it.
const FOOTER_BYTES: usize = 4;
/// TensorFlow's `DataType` codes of the scalar tensors read.
const DT_FLOAT: i32 = 1;
/// See [`DT_FLOAT`].
const DT_DOUBLE: i32 = 2;

/// `tensorboard.Event`, less what is not read.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    /// Seconds since the epoch.
    #[prost(double, tag = "1")]
    wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    step: i64,
    /// Set on a summary event.
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

/// `tensorboard.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    /// One value per tag.
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

/// `tensorboard.Summary.Value`, less what is not read.
#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    /// The tag (`val_acc`, `train/loss`).
    #[prost(string, tag = "1")]
    tag: String,
    /// An old-style scalar (`add_scalar`'s default); a oneof member, so present or not.
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    /// A tensor (`add_scalar(new_style=True)`, but also text and others).
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
}

/// `tensorboard.TensorProto`, less what is not read.
#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    /// A `DataType` code.
    #[prost(int32, tag = "1")]
    dtype: i32,
    /// The raw values, little-endian.
    #[prost(bytes = "vec", tag = "4")]
    tensor_content: Vec<u8>,
    /// `DT_FLOAT` values.
    #[prost(float, repeated, tag = "5")]
    float_val: Vec<f32>,
    /// `DT_DOUBLE` values.
    #[prost(double, repeated, tag = "6")]
    double_val: Vec<f64>,
}

/// The last value of every scalar tag in a TensorBoard log: `path` is one event file or a
/// folder searched recursively for files whose name contains "tfevents" (Lightning writes
/// lightning_logs/version_N/events.out.tfevents.*; torch's SummaryWriter writes
/// runs/DATE_HOST/). "Last" = the highest step; on a tie, the record read later (files in
/// path-name order, records in file order).
pub fn last_scalars(path: &Path) -> Result<BTreeMap<String, f64>, String> {
    let mut last: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    for file in event_files(path)? {
        let bytes = read_capped(&file)?;
        for_each_scalar(&file, &bytes, |tag, step, value| {
            let newer = last.get(&tag).is_none_or(|(seen, _)| step >= *seen);
            if newer {
                last.insert(tag, (step, value));
            }
        })?;
    }
    Ok(last.into_iter().map(|(tag, (_, v))| (tag, v)).collect())
}

/// `path` itself if it is a file, else the event files under it, in path-name order.
fn event_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files = crate::fsutil::files_under(path, &|name| name.contains("tfevents"))?;
    if files.is_empty() {
        return Err(format!(
            "{}: no TensorBoard event file (events.out.tfevents.*) under it",
            path.display()
        ));
    }
    Ok(files)
}

/// The whole file, refused past [`MAX_EVENT_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    crate::fsutil::read_bytes_capped(path, MAX_EVENT_FILE_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Calls `found(tag, step, value)` for each scalar of each record of one event file.
fn for_each_scalar(
    file: &Path,
    bytes: &[u8],
    mut found: impl FnMut(String, i64, f64),
) -> Result<(), String> {
    let mut offset = 0;
    while let Some((data, next)) = next_record(file, bytes, offset)? {
        let event = <Event as prost::Message>::decode(data).map_err(|e| {
            format!(
                "{}: byte {offset}: not a TensorBoard event: {e}",
                file.display()
            )
        })?;
        for value in event.summary.map(|s| s.value).unwrap_or_default() {
            if let Some(scalar) = scalar_of(&value) {
                found(value.tag, event.step, scalar);
            }
        }
        offset = next;
    }
    Ok(())
}

/// The data of the record at `offset` and the offset after it; `None` at the end of the
/// file or at a truncated last record (a writer still running leaves one).
fn next_record<'a>(
    file: &Path,
    bytes: &'a [u8],
    offset: usize,
) -> Result<Option<(&'a [u8], usize)>, String> {
    let rest = bytes.get(offset..).unwrap_or_default();
    let Some((header, body)) = rest.split_first_chunk::<HEADER_BYTES>() else {
        return Ok(None);
    };
    let mut len_bytes = [0; 8];
    len_bytes.copy_from_slice(&header[..8]);
    if !crc_matches(&len_bytes, &header[8..]) {
        return Err(format!(
            "{}: byte {offset}: corrupt record (the CRC of its length does not match)",
            file.display()
        ));
    }
    let len = u64::from_le_bytes(len_bytes);
    let available = body.len().checked_sub(FOOTER_BYTES);
    let Some(len) = usize::try_from(len)
        .ok()
        .filter(|l| available.is_some_and(|a| *l <= a))
    else {
        return Ok(None); // the data or its CRC runs past the end
    };
    let (data, crc) = body.split_at(len);
    if !crc_matches(data, &crc[..FOOTER_BYTES]) {
        return Err(format!(
            "{}: byte {offset}: corrupt record (the CRC of its {len} bytes of data does not match)",
            file.display()
        ));
    }
    Ok(Some((
        data,
        offset + HEADER_BYTES + data.len() + FOOTER_BYTES,
    )))
}

/// Whether `stored` (4 bytes, little-endian) is the masked CRC-32C of `data`.
fn crc_matches(data: &[u8], stored: &[u8]) -> bool {
    let crc = crc32c::crc32c(data);
    let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
    stored == masked.to_le_bytes()
}

/// A value's scalar: a `simple_value`, or a one-value float or double tensor.
fn scalar_of(value: &Value) -> Option<f64> {
    if let Some(v) = value.simple_value {
        return Some(f64::from(v));
    }
    let tensor = value.tensor.as_ref()?;
    let content = tensor.tensor_content.as_slice();
    match tensor.dtype {
        DT_FLOAT => match tensor.float_val.as_slice() {
            [v] => Some(f64::from(*v)),
            [] => content
                .try_into()
                .ok()
                .map(f32::from_le_bytes)
                .map(f64::from),
            _ => None,
        },
        DT_DOUBLE => match tensor.double_val.as_slice() {
            [v] => Some(*v),
            [] => content.try_into().ok().map(f64::from_le_bytes),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// What tests/fixtures/programs/generate_logs.py wrote with torch's SummaryWriter.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/programs/tensorboard")
            .join(name)
    }

    const FIRST: &str = "lightning_logs/version_0/events.out.tfevents.1764633600.fixture.1.0";

    fn masked_crc(bytes: &[u8]) -> [u8; 4] {
        let crc = crc32c::crc32c(bytes);
        crc.rotate_right(15).wrapping_add(0xa282_ead8).to_le_bytes()
    }

    /// A record header saying `len` bytes of data follow.
    fn header(len: u64) -> Vec<u8> {
        let len = len.to_le_bytes();
        [&len[..], &masked_crc(&len)].concat()
    }

    /// One TFRecord record holding `data`.
    fn record(data: &[u8]) -> Vec<u8> {
        let header = header(data.len() as u64);
        [&header[..], data, &masked_crc(data)].concat()
    }

    /// A record of an event at `step` with one value.
    fn event(step: i64, value: Value) -> Vec<u8> {
        let summary = Summary { value: vec![value] };
        let event = Event {
            wall_time: 1.5,
            step,
            summary: Some(summary),
        };
        record(&event.encode_to_vec())
    }

    fn simple(tag: &str, v: f32) -> Value {
        Value {
            tag: tag.into(),
            simple_value: Some(v),
            tensor: None,
        }
    }

    fn tensor(tag: &str, tensor: TensorProto) -> Value {
        Value {
            tag: tag.into(),
            simple_value: None,
            tensor: Some(tensor),
        }
    }

    /// `bytes` written to a file of a new temporary folder.
    fn written(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1.host.1.0");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn the_fixture_folder_gives_each_tag_s_value_at_its_highest_step_over_both_files() {
        let read = last_scalars(&fixture("")).unwrap();
        let expected = BTreeMap::from([
            // Step 2 in both files: the later file's value.
            ("val_acc".to_string(), f64::from(0.8_f32)),
            // Step 2 in the first file beats step 1 in the second.
            ("train/loss".to_string(), f64::from(1.2_f32)),
            ("lr".to_string(), 0.001),
        ]);
        // The histogram ("weights") and text ("note") are not scalars.
        assert_eq!(read, expected);
    }

    #[test]
    fn one_event_file_is_read_alone() {
        let read = last_scalars(&fixture(FIRST)).unwrap();
        assert_eq!(read["val_acc"], f64::from(0.7_f32));
        assert_eq!(read["train/loss"], f64::from(1.2_f32));
        assert_eq!(read["lr"], 0.001);
        assert_eq!(read.len(), 3);
    }

    #[test]
    fn a_corrupted_crc_is_an_error_naming_the_file_and_offset() {
        let mut bytes = std::fs::read(fixture(FIRST)).unwrap();
        let first_len = HEADER_BYTES + FOOTER_BYTES + bytes[0] as usize;
        // The second record's last data byte.
        let second_len = bytes[first_len] as usize;
        bytes[first_len + HEADER_BYTES + second_len - 1] ^= 0x40;
        let (_dir, path) = written(&bytes);
        let err = last_scalars(&path).unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(&format!("byte {first_len}:")), "{err}");
        assert!(err.contains("CRC of its"), "{err}");
        bytes[first_len] ^= 1;
        let (_dir, path) = written(&bytes);
        let err = last_scalars(&path).unwrap_err();
        assert!(err.contains("CRC of its length"), "{err}");
    }

    #[test]
    fn a_truncated_final_record_ends_the_file_where_it_starts() {
        let whole = [event(0, simple("a", 1.0)), event(1, simple("a", 2.0))].concat();
        let first = event(0, simple("a", 1.0)).len();
        let second = whole.len() - first;
        for cut in [1, FOOTER_BYTES, second - HEADER_BYTES, second - 5] {
            let (_dir, path) = written(&whole[..whole.len() - cut]);
            let read = last_scalars(&path).unwrap();
            assert_eq!(read, BTreeMap::from([("a".to_string(), 1.0)]), "cut {cut}");
        }
        let (_dir, path) = written(&whole);
        assert_eq!(last_scalars(&path).unwrap()["a"], 2.0);
    }

    #[test]
    fn a_missing_path_or_a_folder_without_event_files_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("lightning_logs");
        let err = last_scalars(&missing).unwrap_err();
        assert!(err.starts_with(&missing.display().to_string()), "{err}");
        std::fs::create_dir(&missing).unwrap();
        std::fs::write(missing.join("hparams.yaml"), "lr: 0.1\n").unwrap();
        let err = last_scalars(&missing).unwrap_err();
        assert_eq!(
            err,
            format!(
                "{}: no TensorBoard event file (events.out.tfevents.*) under it",
                missing.display()
            )
        );
    }

    #[test]
    fn tensor_scalars_are_read_from_values_or_content_and_others_skipped() {
        let f32_content = TensorProto {
            dtype: DT_FLOAT,
            tensor_content: 0.3_f32.to_le_bytes().to_vec(),
            ..Default::default()
        };
        let f64_content = TensorProto {
            dtype: DT_DOUBLE,
            tensor_content: 0.3_f64.to_le_bytes().to_vec(),
            ..Default::default()
        };
        let two_floats = TensorProto {
            dtype: DT_FLOAT,
            float_val: vec![1.0, 2.0],
            ..Default::default()
        };
        let string = TensorProto {
            dtype: 7,
            ..Default::default()
        };
        let bytes = [
            event(3, tensor("f", f32_content)),
            event(3, tensor("d", f64_content)),
            event(3, tensor("vector", two_floats)),
            event(3, tensor("text", string)),
            event(4, simple("zero", 0.0)),
        ]
        .concat();
        let (_dir, path) = written(&bytes);
        let read = last_scalars(&path).unwrap();
        let expected = BTreeMap::from([
            ("f".to_string(), f64::from(0.3_f32)),
            ("d".to_string(), 0.3),
            ("zero".to_string(), 0.0),
        ]);
        assert_eq!(read, expected);
    }

    #[test]
    fn the_highest_step_wins_then_the_later_record() {
        let bytes = [
            event(5, simple("a", 1.0)),
            event(2, simple("a", 2.0)),
            event(5, simple("b", 1.0)),
            event(5, simple("b", 3.0)),
        ]
        .concat();
        let (_dir, path) = written(&bytes);
        let read = last_scalars(&path).unwrap();
        assert_eq!(read["a"], 1.0);
        assert_eq!(read["b"], 3.0);
    }

    #[test]
    fn garbage_is_an_error_or_a_stop_never_a_panic() {
        let not_an_event = record(&[0xff, 0xff, 0xff]);
        let (_dir, path) = written(&not_an_event);
        let err = last_scalars(&path).unwrap_err();
        assert!(err.contains("byte 0: not a TensorBoard event"), "{err}");
        // A length past the end, with a good CRC: a truncated last record.
        let (_dir, path) = written(&[header(u64::MAX), vec![0; 64]].concat());
        assert_eq!(last_scalars(&path).unwrap(), BTreeMap::new());
        for bytes in [&[0u8; 11][..], &[0xab; 40], &[], &record(&[0x2a, 0x05])] {
            let (_dir, path) = written(bytes);
            let _ = last_scalars(&path);
        }
    }

    #[test]
    fn a_file_over_the_cap_is_refused_by_name() {
        let (_dir, path) = written(&[]);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(MAX_EVENT_FILE_BYTES + 1).unwrap();
        let err = last_scalars(&path).unwrap_err();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("256 MiB cap"), "{err}");
    }
}
