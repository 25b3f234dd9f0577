//! Preprocessing throughput (images/s): the E2 pipeline at 32x32 and the E3 pipeline
//! (E2 at 32, resize to 224, ImageNet normalisation) on the CPU backend and on the device
//! backend (on CPU tensors here; on CUDA when present, timed with an explicit synchronise).
//!
//! Ids: `preprocess/{cpu|device-cpu|cuda}/{32|224}/batch{N}`. Each iteration draws the
//! batch's parameters, gathers its images and runs the backend, as training does.

use cifar_repro::augment::{AugmentConfig, Backend, Pipeline};
use cifar_repro::bench::bench_devices;
use cifar_repro::data::Cifar10;
use cifar_repro::determinism::SeedTree;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use tch::Device;

fn pipeline(set: &Cifar10, preset: &str, backend: Backend) -> Pipeline {
    Pipeline::new(
        &set.train.images,
        &set.train.labels,
        AugmentConfig::preset(preset).expect("preset"),
        SeedTree::new(0),
        backend,
    )
}

fn preprocess(c: &mut Criterion) {
    let set =
        Cifar10::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/data")).expect("data");
    let devices = bench_devices("preprocess/cuda").expect("REQUIRE_CUDA");
    let cuda = devices.len() > 1;
    let mut backends = vec![("cpu", Backend::cpu_all_cores())];
    for (name, device) in devices {
        let name = if name == "cpu" { "device-cpu" } else { name };
        backends.push((name, Backend::Device(device)));
    }
    let mut group = c.benchmark_group("preprocess");
    group.sample_size(10);
    for (size, preset, batches) in [
        (32, "e2-regularised", &[32usize, 64, 128, 256, 512][..]),
        (224, "e3-frozen", &[32, 64, 128, 256, 512][..]),
    ] {
        for (name, backend) in &backends {
            let images = if *backend == Backend::Device(Device::Cuda(0)) {
                set.train.images.to_device(Device::Cuda(0))
            } else {
                set.train.images.shallow_clone()
            };
            let mut p = pipeline(&set, preset, *backend);
            p.images = images;
            for &batch in batches {
                let indices: Vec<usize> = (0..batch).collect();
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_function(
                    BenchmarkId::new(format!("{name}/{size}"), format!("batch{batch}")),
                    |b| {
                        let mut step = 0;
                        b.iter(|| {
                            step += 1;
                            let out = p.prepare(0, step, &indices).expect("prepare");
                            if cuda && name == &"cuda" {
                                tch::Cuda::synchronize(0);
                            }
                            out
                        })
                    },
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
