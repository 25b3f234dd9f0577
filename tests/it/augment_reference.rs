//! Both backends against torchvision.transforms.v2.functional (fixtures made by
//! tests/fixtures/augment/generate.py), and against each other, within 1e-5.

use crate::common::golden_data;
use cifar_repro::augment::{ImageParams, cpu, device};
use cifar_repro::data::Cifar10;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-5;

fn fixtures() -> (serde_json::Value, Vec<(String, Tensor)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/augment");
    let cases =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let reference = Tensor::read_safetensors(dir.join("reference.safetensors")).unwrap();
    (cases, reference)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn backends_match_torchvision_and_each_other() {
    let (cases, reference) = fixtures();
    assert!(cases["torchvision"].as_str().unwrap().starts_with("0.26.0"));
    let test = Cifar10::load(&golden_data()).unwrap().test;
    let mut checked = 0;
    for (name, expected) in &reference {
        let params: Vec<ImageParams> =
            serde_json::from_value(cases["cases"][name].clone()).unwrap();
        let indices =
            Tensor::from_slice(&params.iter().map(|p| p.index as i64).collect::<Vec<_>>());
        let images = test.images.index_select(0, &indices);
        let on_cpu = cpu::apply(&images, &params, 2).unwrap();
        let on_device = device::apply(&images, &params).unwrap();
        assert_eq!(on_cpu.kind(), Kind::Float);
        let (c, d, cd) = (
            max_diff(&on_cpu, expected),
            max_diff(&on_device, expected),
            max_diff(&on_cpu, &on_device),
        );
        assert!(
            c <= TOLERANCE,
            "{name}: CPU backend differs from torchvision by {c}"
        );
        assert!(
            d <= TOLERANCE,
            "{name}: device backend differs from torchvision by {d}"
        );
        assert!(cd <= TOLERANCE, "{name}: backends differ by {cd}");
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn device_backend_runs_on_cuda_when_present() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: no CUDA device");
        return;
    }
    let (cases, reference) = fixtures();
    let test = Cifar10::load(&golden_data()).unwrap().test;
    for (name, expected) in &reference {
        let params: Vec<ImageParams> =
            serde_json::from_value(cases["cases"][name].clone()).unwrap();
        let indices =
            Tensor::from_slice(&params.iter().map(|p| p.index as i64).collect::<Vec<_>>());
        let images = test
            .images
            .index_select(0, &indices)
            .to_device(Device::Cuda(0));
        let out = device::apply(&images, &params).unwrap();
        assert!(out.device().is_cuda());
        let diff = max_diff(&out.to_device(Device::Cpu), expected);
        assert!(
            diff <= TOLERANCE,
            "{name}: CUDA backend differs from torchvision by {diff}"
        );
    }
}
