//! Training-step throughput (images/s): forward, backward and an Adam update on a batch
//! already in memory, for the report's models; and the cost of strict determinism
//! against seeded on the quickstart model.
//!
//! Ids: `train_step/{cpu|cuda}/{model}/{size}/batch{N}` and
//! `determinism/{cpu|cuda}/{strict|seeded}/batch{N}`. CUDA groups skip with one line
//! without a GPU (`REQUIRE_CUDA=1` makes that an error); CUDA timings synchronise.
//! `TRAIN_STEP_FULL=1` adds ResNet-50 at 224 with batch 16 and batch sizes up to 512.

use cifar_repro::bench::{StepBench, StepSpec, bench_devices};
use cifar_repro::determinism::Determinism;
use cifar_repro::determinism::flags;
use cifar_repro::model::{Arch, Stem};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tch::Device;

fn bench(arch: Arch, stem: Stem, width: i64, side: i64, batch: i64, device: Device) -> StepBench {
    let spec = StepSpec {
        stem,
        width,
        ..StepSpec::torchvision(arch, side, batch)
    };
    StepBench::new(&spec, device).expect("model")
}

fn devices() -> Vec<(&'static str, Device)> {
    bench_devices("train_step/cuda, determinism/cuda").expect("REQUIRE_CUDA")
}

fn train_step(c: &mut Criterion) {
    let full = std::env::var("TRAIN_STEP_FULL").as_deref() == Ok("1");
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    for (name, device) in devices() {
        let cuda = device != Device::Cpu;
        // torchvision's models (ImageNet stem) on 32x32 input, as the PyTorch reference runs them.
        let mut cases = vec![
            (
                "resnet18",
                Arch::Resnet18,
                Stem::Imagenet,
                32,
                vec![32, 128],
            ),
            ("resnet50", Arch::Resnet50, Stem::Imagenet, 32, vec![128]),
        ];
        if full || cuda {
            cases[0].4 = vec![32, 64, 128, 256, 512];
            cases.push((
                "resnet50",
                Arch::Resnet50,
                Stem::Imagenet,
                224,
                vec![16, 64],
            ));
        }
        for (label, arch, stem, side, batches) in cases {
            for batch in batches {
                let mut step = bench(arch, stem, 64, side, batch, device);
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_function(
                    BenchmarkId::new(format!("{name}/{label}/{side}"), format!("batch{batch}")),
                    |b| b.iter(|| step.step()),
                );
            }
        }
    }
    group.finish();
}

fn determinism(c: &mut Criterion) {
    let mut group = c.benchmark_group("determinism");
    group.sample_size(10);
    for (name, device) in devices() {
        let batch = 64;
        let mut step = bench(Arch::Resnet18, Stem::Cifar, 16, 32, batch, device);
        group.throughput(Throughput::Elements(batch as u64));
        for mode in [Determinism::Seeded, Determinism::Strict] {
            flags::apply(mode, 0);
            let id = BenchmarkId::new(
                format!("{name}/{mode:?}").to_lowercase(),
                format!("batch{batch}"),
            );
            group.bench_function(id, |b| b.iter(|| step.step()));
        }
        flags::apply(Determinism::Seeded, 0);
    }
    group.finish();
}

criterion_group!(benches, train_step, determinism);
criterion_main!(benches);
