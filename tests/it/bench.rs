//! E7's epoch measurement (`cifar-repro bench epoch`): how much of the split it measures,
//! the scale to the epoch, and the three times it reports.

use crate::common::golden_data;
use cifar_repro::bench::{EpochBench, EpochBenchError};
use cifar_repro::config::resolve;
use cifar_repro::data::Cifar10;
use std::path::Path;
use tch::Device;

#[test]
fn an_epoch_is_measured_on_whole_batches_and_scaled_to_the_epoch() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot/run.toml");
    let config = resolve(
        fixture.to_str().unwrap(),
        Path::new(""),
        &toml::Table::new(),
    )
    .unwrap()
    .config;
    let batch = config.loop_.batch_size;
    let set = Cifar10::load(&golden_data()).unwrap();

    let refused = EpochBench::new(&config, &set.train, Device::Cpu, Some(batch - 1), 1000);
    assert!(matches!(
        refused,
        Err(EpochBenchError::NoWholeBatch { images, batch_size }) if images == batch - 1 && batch_size == batch
    ));

    let bench =
        EpochBench::new(&config, &set.train, Device::Cpu, Some(2 * batch + 1), 1000).unwrap();
    assert_eq!(bench.measured, 2 * batch);
    assert!((bench.scale - 1000.0 / (2 * batch) as f64).abs() < 1e-12);
    let times = bench.run().unwrap();
    for t in [
        times.cpu_preprocessing,
        times.device_preprocessing,
        times.training,
    ] {
        assert!(t.is_finite() && t > 0.0, "{times:?}");
    }
}

#[test]
fn a_step_past_the_machine_s_memory_is_refused_before_libtorch_allocates() {
    let out = crate::common::cli(&[
        "bench",
        "step",
        "--arch",
        "resnet50",
        "--size",
        "224",
        "--batch-size",
        "65536",
    ]);
    crate::common::assert_one_line_error(
        &out,
        &[
            "this step needs about",
            "GiB at its peak",
            "lower --batch-size",
        ],
    );
}
