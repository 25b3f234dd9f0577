//! Hex digests, as the manifest, `data verify` and the fingerprints write them.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Lower-case hex of a digest's bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The raw bytes of a tensor (moved to the CPU, made contiguous), as its digests read them.
/// Flattened first: a 0-d tensor has no last dimension to view as bytes.
pub fn tensor_bytes(t: &tch::Tensor) -> Vec<u8> {
    let t = t.to_device(tch::Device::Cpu).contiguous().reshape([-1]);
    let n = t.numel() * t.kind().elt_size_in_bytes();
    let mut bytes = vec![0u8; n];
    t.view_dtype(tch::Kind::Uint8).copy_data(&mut bytes, n);
    bytes
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The digest `D` of a file, read in chunks, as lower-case hex.
pub fn file_digest<D: Digest>(path: &Path) -> std::io::Result<String> {
    let mut file = crate::fsutil::open_file(path)?;
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// SHA-256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    file_digest::<Sha256>(path)
}
