//! The prefetching batch iterator gives the same batches as preparing them one by one.

use crate::common::golden_data;
use cifar_repro::augment::{AugmentConfig, Backend, BatchPlan, Pipeline};
use cifar_repro::data::Cifar10;
use cifar_repro::determinism::SeedTree;

fn pipeline(threads: usize) -> Pipeline {
    let set = Cifar10::load(&golden_data()).unwrap();
    Pipeline {
        images: set.train.images,
        labels: set.train.labels,
        config: AugmentConfig::preset("next-cutmix").unwrap(),
        tree: SeedTree::new(11),
        backend: Backend::Cpu { threads },
    }
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
