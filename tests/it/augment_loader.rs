//! The prefetching batch iterator gives the same batches as preparing them one by one.

use crate::common::golden_data;
use cifar_repro::augment::{AugmentConfig, Backend, BatchPlan, Pipeline};
use cifar_repro::data::Cifar10;
use cifar_repro::determinism::SeedTree;

fn pipeline(threads: usize) -> Pipeline {
    let set = Cifar10::load(&golden_data()).unwrap();
    Pipeline::new(
        &set.train.images,
        &set.train.labels,
        AugmentConfig::preset("next-cutmix").unwrap(),
        SeedTree::new(11),
        Backend::Cpu { threads },
    )
}

fn plan() -> BatchPlan {
    let order = SeedTree::new(11).stream("order/epoch/2").permutation(1500);
    BatchPlan {
        epoch: 2,
        order,
        batch_size: 64,
        drop_last: true,
    }
}

#[test]
fn prefetched_batches_equal_sequential_ones_whatever_the_threading() {
    let sequential = pipeline(1);
    let expected: Vec<_> = plan()
        .batches()
        .iter()
        .enumerate()
        .map(|(i, indices)| sequential.prepare(2, i, indices).unwrap())
        .collect();
    assert_eq!(expected.len(), 1500 / 64, "the short last batch is dropped");
    for (threads, depth) in [(1, 1), (2, 4)] {
        let batches: Vec<_> = pipeline(threads)
            .prefetch(plan(), depth)
            .map(Result::unwrap)
            .collect();
        assert_eq!(batches.len(), expected.len());
        for (got, want) in batches.iter().zip(&expected) {
            assert_eq!(got.index, want.index);
            assert_eq!(got.params, want.params);
            assert!(got.augmented.images.equal(&want.augmented.images));
            let (g, w) = (
                got.augmented.mixed_targets.as_ref().unwrap(),
                want.augmented.mixed_targets.as_ref().unwrap(),
            );
            assert!(g.equal(w));
        }
    }
}

#[test]
fn dropping_the_iterator_early_stops_the_worker() {
    let mut batches = pipeline(2).prefetch(plan(), 2);
    assert!(batches.next().unwrap().is_ok());
    drop(batches); // must return, not hang on the full queue
}

#[test]
fn pipeline_on_cuda_matches_the_cpu_kernels_when_present() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: no CUDA device");
        return;
    }
    let cpu = pipeline(2);
    let cuda = Pipeline::new(
        &cpu.images,
        &cpu.labels,
        cpu.config.clone(),
        cpu.tree,
        Backend::Device(tch::Device::Cuda(0)),
    );
    let indices: Vec<usize> = (100..164).collect();
    let (a, b) = (
        cpu.prepare(0, 3, &indices).unwrap(),
        cuda.prepare(0, 3, &indices).unwrap(),
    );
    assert_eq!(a.params, b.params);
    let diff = (&a.augmented.images - b.augmented.images.to_device(tch::Device::Cpu))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff <= 1e-5, "CUDA pipeline differs by {diff}");
}
