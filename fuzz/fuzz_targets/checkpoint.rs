//! A checkpoint folder, checked and read the way `train --resume` reads it. The input is
//! split into state.json (its length in the first two bytes, little-endian) and the
//! tensor file's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let (state, tensors) = match bytes {
        [a, b, rest @ ..] => rest.split_at((u16::from_le_bytes([*a, *b]) as usize).min(rest.len())),
        _ => return,
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("state.json"), state).expect("write");
    std::fs::write(dir.path().join("model.safetensors"), tensors).expect("write");
    std::fs::write(dir.path().join("optim.safetensors"), tensors).expect("write");
    let _ = cifar_repro::run_dir::Checkpoint::open(dir.path());
    let _ = tch::Tensor::read_safetensors(dir.path().join("model.safetensors"));
});
