//! Loading CIFAR-10 from a folder and from a `.tar.gz` (the whole source, checks included).
//!
//! Data: `CIFAR_BENCH_DATA` (a cifar-10-batches-bin folder or its parent), else the vendored
//! `golden/data`. For the 6,000-image sample: `CIFAR_BENCH_DATA=../shared/data/cifar10-sample`.

use cifar_repro::data::{BATCHES_DIR, Cifar10, META_FILE, TEST_FILE, TRAIN_FILES};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::{Path, PathBuf};

fn data_folder() -> PathBuf {
    let root = std::env::var_os("CIFAR_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/data"));
    let nested = root.join(BATCHES_DIR);
    if nested.is_dir() { nested } else { root }
}

fn pack(folder: &Path, archive: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(archive).expect("create archive"),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for name in TRAIN_FILES.iter().chain(&[TEST_FILE, META_FILE]) {
        tar.append_path_with_name(folder.join(name), format!("{BATCHES_DIR}/{name}"))
            .expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
}

fn load(c: &mut Criterion) {
    let folder = data_folder();
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    pack(&folder, &archive);
    let records = Cifar10::load(&folder).expect("load data");
    let images = (records.train.len() + records.test.len()) as u64;

    let mut group = c.benchmark_group("data_load");
    group.throughput(Throughput::Elements(images));
    group.sample_size(20);
    group.bench_function(format!("folder/{images}"), |b| {
        b.iter(|| Cifar10::load(&folder).expect("load folder"))
    });
    group.bench_function(format!("tar_gz/{images}"), |b| {
        b.iter(|| Cifar10::load(&archive).expect("load archive"))
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
