//! Reading `torch.save` files of a state dict, the format torchvision publishes its
//! weights in, without libtorch's own unpickler (which fails on the `OrderedDict` that
//! `model.state_dict()` returns).
//!
//! The format since PyTorch 1.6: a zip archive (entries stored, not compressed) holding
//! `NAME/data.pkl`, a pickle of the dict in which each tensor names its storage by a
//! persistent id, `NAME/data/KEY` with each storage's raw bytes, and `NAME/byteorder`.
//! [`pickle`] runs the pickle without executing anything; each tensor is then built
//! from its storage's bytes, offset, size and stride, after checking that the view fits.

mod pickle;

use pickle::{StorageRef, TensorRef, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The largest `data.pkl` read (a ResNet-50's is about 40 kB).
const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// The largest storage read (1 GiB; a ResNet-50's largest is 9 MB).
const MAX_STORAGE_BYTES: u64 = 1 << 30;

/// The most a large archive member may inflate: `torch.save` stores members uncompressed
/// and real weights deflate barely, so a member past [`BOMB_BYTES`] that grows a
/// hundredfold is a decompression bomb, refused before it is inflated.
const MAX_INFLATION: u64 = 100;

/// The size from which [`MAX_INFLATION`] applies (small runs of zeros deflate far more).
const BOMB_BYTES: u64 = 64 << 20;

/// A file that is not a readable `torch.save` state dict.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file in torch's legacy format.
    #[error(
        "{}: PyTorch's legacy (before 1.6) torch.save format, which cifar-repro does not read; re-save it with a current torch (torch.save(torch.load(OLD), NEW))",
        .0.display()
    )]
    Legacy(PathBuf),
    /// Not a zip archive holding a pickle.
    #[error("{}: not a torch.save file ({message})", path.display())]
    NotTorch {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A torch.save archive whose pickle or storages are not a state dict of tensors.
    #[error("{}: {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Every tensor of the state dict saved in `path`, in the file's order.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>, PthError> {
    let bad = |message: String| PthError::Bad {
        path: path.to_owned(),
        message,
    };
    let (mut archive, prefix) = open_torch_archive(path)?;
    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}/byteorder"), 16)
        && order != b"little"
    {
        return Err(bad(format!(
            "byte order {:?}; only little-endian files are read",
            String::from_utf8_lossy(&order)
        )));
    }
    let pickle_name = format!("{prefix}/data.pkl");
    let bytes = read_entry(&mut archive, &pickle_name, MAX_PICKLE_BYTES).map_err(&bad)?;
    let value = pickle::load(&bytes).map_err(|e| bad(format!("{pickle_name}: {e}")))?;
    let entries = state_dict_entries(value).map_err(bad)?;
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, view) in entries {
        let storage = match storages.get(&view.storage.key) {
            Some(s) => s.shallow_clone(),
            None => {
                let s = read_storage(&mut archive, &prefix, &view.storage)
                    .map_err(|e| bad(format!("tensor {name:?}: {e}")))?;
                storages.insert(view.storage.key.clone(), s.shallow_clone());
                s
            }
        };
        let tensor =
            build_view(&storage, &view).map_err(|e| bad(format!("tensor {name:?}: {e}")))?;
        tensors.push((name, tensor));
    }
    Ok(tensors)
}

/// The number at `key` of the dict saved in `path` (a training checkpoint such as
/// `torch.save({'net': ..., 'acc': 93.1, 'epoch': 9}, 'ckpt.pth')`): the key itself, or a
/// dotted path into nested dicts (`metrics.val_acc`). A float, an int, a bool or a
/// one-element tensor; nothing in the file is executed.
pub fn read_number(path: &Path, key: &str) -> Result<f64, PthError> {
    let bad = |message: String| PthError::Bad {
        path: path.to_owned(),
        message,
    };
    let (mut archive, prefix) = open_torch_archive(path)?;
    let pickle_name = format!("{prefix}/data.pkl");
    let bytes = read_entry(&mut archive, &pickle_name, MAX_PICKLE_BYTES).map_err(&bad)?;
    let root = pickle::load(&bytes).map_err(|e| bad(format!("{pickle_name}: {e}")))?;
    let value = dict_get(&root, key)
        .or_else(|| {
            key.split('.')
                .try_fold(root.clone(), |v, part| dict_get(&v, part))
        })
        .ok_or_else(|| {
            bad(format!(
                "no key {key:?} (the file holds {})",
                keys_of(&root)
            ))
        })?;
    match value {
        Value::Float(x) => Ok(x),
        Value::Int(i) => Ok(i as f64),
        Value::Bool(b) => Ok(f64::from(u8::from(b))),
        Value::Tensor(view) if view.size.iter().product::<i64>() == 1 => {
            let storage = read_storage(&mut archive, &prefix, &view.storage).map_err(&bad)?;
            let tensor = build_view(&storage, &view).map_err(&bad)?;
            tensor
                .reshape([1])
                .to_kind(Kind::Double)
                .f_double_value(&[0])
                .map_err(|e| bad(e.to_string()))
        }
        other => Err(bad(format!(
            "{key:?} holds {}, not a number",
            other.describe()
        ))),
    }
}

/// The value at `key` of a dict.
fn dict_get(value: &Value, key: &str) -> Option<Value> {
    let Value::Dict(dict) = value else {
        return None;
    };
    dict.borrow()
        .iter()
        .find(|(k, _)| matches!(k, Value::Str(s) if &**s == key))
        .map(|(_, v)| v.clone())
}

/// The string keys of a dict, for a message (at most 10).
fn keys_of(value: &Value) -> String {
    let Value::Dict(dict) = value else {
        return value.describe();
    };
    let keys: Vec<String> = dict
        .borrow()
        .iter()
        .filter_map(|(k, _)| match k {
            Value::Str(s) => Some(format!("{s:?}")),
            _ => None,
        })
        .take(10)
        .collect();
    format!("a dict of {}", keys.join(", "))
}

/// The archive of a `torch.save` file and its top folder (the `NAME` of `NAME/data.pkl`).
fn open_torch_archive(path: &Path) -> Result<(zip::ZipArchive<std::fs::File>, String), PthError> {
    let archive = open_archive(path)?;
    let prefix = archive_prefix(&archive).ok_or_else(|| PthError::NotTorch {
        path: path.to_owned(),
        message: "a zip archive without NAME/data.pkl".into(),
    })?;
    Ok((archive, prefix))
}

fn open_archive(path: &Path) -> Result<zip::ZipArchive<std::fs::File>, PthError> {
    let io = |source| PthError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = crate::fsutil::open_file(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let legacy = file.read_exact(&mut magic).is_ok() && magic[0] == 0x80;
    if legacy {
        return Err(PthError::Legacy(path.to_owned()));
    }
    let file = crate::fsutil::open_file(path).map_err(io)?;
    zip::ZipArchive::new(file).map_err(|e| PthError::NotTorch {
        path: path.to_owned(),
        message: format!("not a zip archive: {e}"),
    })
}

/// The archive's top folder: the `NAME` of its `NAME/data.pkl`.
fn archive_prefix(archive: &zip::ZipArchive<std::fs::File>) -> Option<String> {
    archive
        .file_names()
        .filter_map(|n| n.strip_suffix("/data.pkl"))
        .find(|p| !p.is_empty() && !p.contains('/'))
        .map(str::to_owned)
}

/// The bytes of the entry `name`, refused when larger than `max` bytes.
fn read_entry(
    archive: &mut zip::ZipArchive<std::fs::File>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, String> {
    let mut entry = archive
        .by_name(name)
        .map_err(|_| format!("the archive has no {name}"))?;
    if entry.size() > max {
        return Err(format!(
            "{name} holds {} bytes, more than the {max} read",
            entry.size()
        ));
    }
    if entry.size() > BOMB_BYTES
        && entry.size() > entry.compressed_size().max(1).saturating_mul(MAX_INFLATION)
    {
        return Err(format!(
            "{name} inflates from {} to {} bytes, more than {MAX_INFLATION}-fold; torch.save stores its members uncompressed",
            entry.compressed_size(),
            entry.size()
        ));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .by_ref()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(bytes)
}

/// The `(name, tensor view)` entries of a state dict: a dict of strings to tensors.
fn state_dict_entries(value: Value) -> Result<Vec<(String, TensorRef)>, String> {
    let Value::Dict(dict) = value else {
        return Err(format!(
            "the file holds {}, not a state dict (save model.state_dict())",
            value.describe()
        ));
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (key, value) in dict.borrow().iter() {
        let Value::Str(name) = key else {
            return Err(format!("a state dict key that is {}", key.describe()));
        };
        let Value::Tensor(view) = value else {
            return Err(format!(
                "{name:?} holds {}, not a tensor: is this a whole checkpoint rather than a state dict (model.state_dict())?",
                value.describe()
            ));
        };
        if !seen.insert(name.to_string()) {
            return Err(format!("{name:?} appears twice"));
        }
        out.push((name.to_string(), (**view).clone()));
    }
    Ok(out)
}

/// The libtorch kind and element size of a storage class.
fn kind_of(class: &str) -> Option<(Kind, u64)> {
    Some(match class {
        "FloatStorage" => (Kind::Float, 4),
        "DoubleStorage" => (Kind::Double, 8),
        "HalfStorage" => (Kind::Half, 2),
        "BFloat16Storage" => (Kind::BFloat16, 2),
        "LongStorage" => (Kind::Int64, 8),
        "IntStorage" => (Kind::Int, 4),
        "ShortStorage" => (Kind::Int16, 2),
        "CharStorage" => (Kind::Int8, 1),
        "ByteStorage" => (Kind::Uint8, 1),
        "BoolStorage" => (Kind::Bool, 1),
        _ => return None,
    })
}

/// A storage as a flat tensor of its kind, its size checked against the persistent id.
fn read_storage(
    archive: &mut zip::ZipArchive<std::fs::File>,
    prefix: &str,
    storage: &StorageRef,
) -> Result<Tensor, String> {
    let (kind, element) =
        kind_of(&storage.class).ok_or_else(|| format!("unknown storage {}", storage.class))?;
    let expected = storage
        .numel
        .checked_mul(element)
        .filter(|&b| b <= MAX_STORAGE_BYTES)
        .ok_or_else(|| format!("a storage of {} elements is too large", storage.numel))?;
    let name = format!("{prefix}/data/{}", storage.key);
    let bytes = read_entry(archive, &name, expected)?;
    if bytes.len() as u64 != expected {
        return Err(format!(
            "{name} holds {} bytes; its {} elements of {} need {expected}",
            bytes.len(),
            storage.numel,
            storage.class
        ));
    }
    let numel = i64::try_from(storage.numel).map_err(|_| "a storage too large")?;
    Tensor::f_from_data_size(&bytes, &[numel], kind).map_err(|e| e.to_string())
}

/// The view `view` of `storage`, copied into a tensor of its own, after checking that
/// every element it reads lies inside the storage.
fn build_view(storage: &Tensor, view: &TensorRef) -> Result<Tensor, String> {
    if view.size.iter().chain(&view.stride).any(|&d| d < 0) {
        return Err("a negative size or stride".into());
    }
    let empty = view.size.contains(&0);
    let last = view
        .size
        .iter()
        .zip(&view.stride)
        .try_fold(view.offset, |acc, (&n, &s)| {
            let reach = (n.max(1) as u64 - 1).checked_mul(s as u64)?;
            acc.checked_add(reach)
        });
    if !empty && last.is_none_or(|last| last >= view.storage.numel) {
        return Err(format!(
            "its view (offset {}, size {:?}, stride {:?}) reads past its storage of {} elements",
            view.offset, view.size, view.stride, view.storage.numel
        ));
    }
    let offset = i64::try_from(view.offset).map_err(|_| "an offset too large")?;
    storage
        .f_as_strided(&view.size, &view.stride, Some(offset))
        .and_then(|t| t.f_contiguous())
        .map_err(|e| e.to_string())
}
