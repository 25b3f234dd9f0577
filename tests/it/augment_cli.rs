//! `cifar-repro augment` end to end, and its bad input.

use crate::common::{assert_one_line_error, cli, golden_data};
use tch::{Kind, Tensor};

fn augment(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let data = golden_data();
    let mut args = vec![
        "augment",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

#[test]
fn writes_grid_params_and_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let out = augment(
        dir.path(),
        &["--preset", "e2-regularised", "--count", "6", "--seed", "5"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tensors = Tensor::read_safetensors(dir.path().join("batch.safetensors")).unwrap();
    let get = |name: &str| &tensors.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(get("input").size(), [6, 3, 32, 32]);
    assert_eq!(get("input").kind(), Kind::Uint8);
    assert_eq!(get("output").size(), [6, 3, 32, 32]);
    assert_eq!(get("output").kind(), Kind::Float);
    let params: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("params.json")).unwrap()).unwrap();
    let images = params["images"].as_array().unwrap();
    assert_eq!(images.len(), 6);
    for (i, image) in images.iter().enumerate() {
        assert_eq!(image["index"], i);
        assert_eq!(image["crop"]["padding"], 4);
        assert!(image["hflip"].is_boolean());
        assert_eq!(
            image["jitter"]["order"].as_array().unwrap().len(),
            3,
            "hue is off in E2"
        );
        assert!(image["normalize"]["mean"].is_array());
        assert!(image.get("resize").is_none(), "E2 does not resize");
    }
    let png = std::fs::read(dir.path().join("grid.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn same_seed_same_output_other_seed_other_parameters() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for (dir, seed) in [(&a, "1"), (&b, "1"), (&c, "2")] {
        let out = augment(
            dir.path(),
            &["--preset", "e3b-strong", "--count", "4", "--seed", seed],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = |d: &tempfile::TempDir, f: &str| std::fs::read(d.path().join(f)).unwrap();
    assert_eq!(read(&a, "params.json"), read(&b, "params.json"));
    assert_eq!(read(&a, "batch.safetensors"), read(&b, "batch.safetensors"));
    assert_ne!(read(&a, "params.json"), read(&c, "params.json"));
}

#[test]
fn config_file_and_print_config_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let printed = cli(&[
        "augment",
        "--preset",
        "e3-frozen",
        "--print-config",
        "--out",
        "unused",
    ]);
    assert!(printed.status.success());
    let config = dir.path().join("e3.toml");
    std::fs::write(&config, &printed.stdout).unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("resize = 224") && text.contains("normalize = \"imagenet\""),
        "{text}"
    );
    let out = augment(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--count", "2"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tensors = Tensor::read_safetensors(dir.path().join("batch.safetensors")).unwrap();
    assert_eq!(
        tensors
            .iter()
            .find(|(n, _)| n == "output")
            .unwrap()
            .1
            .size(),
        [2, 3, 224, 224]
    );
}

#[test]
fn unknown_preset() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &augment(dir.path(), &["--preset", "e9"]),
        &["unknown augmentation preset \"e9\"", "e2-regularised"],
    );
}

#[test]
fn out_of_range_factor() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "normalize = \"cifar\"\n[jitter]\nbrightness = 1.5\n",
    )
    .unwrap();
    let out = augment(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_one_line_error(&out, &["bad.toml", "jitter.brightness 1.5 must be in 0..1"]);
}

#[test]
fn unknown_config_key_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("typo.toml");
    std::fs::write(&config, "normalize = \"cifar\"\nhflipp = 0.5\n").unwrap();
    let out = augment(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_one_line_error(&out, &["typo.toml", "line 2", "hflipp"]);
}

#[test]
fn count_above_the_data_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = augment(dir.path(), &["--preset", "e1-baseline", "--count", "5000"]);
    assert_one_line_error(
        &out,
        &["--count 5000 is more than the 1500 training images"],
    );
}

#[test]
fn unwritable_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = augment(&file.join("sub"), &["--preset", "e1-baseline"]);
    assert_one_line_error(&out, &["cannot create the output folder", "a-file/sub"]);
}

#[test]
fn cuda_without_cuda() {
    if tch::Cuda::is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = augment(dir.path(), &["--preset", "e1-baseline", "--device", "cuda"]);
    assert_one_line_error(&out, &["--device cuda", "no CUDA device"]);
}

#[test]
fn print_config_needs_no_out_and_reads_back() {
    let out = cli(&["augment", "--preset", "next-mixup", "--print-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        cifar_repro::augment::AugmentConfig::from_toml(&text).unwrap(),
        cifar_repro::augment::AugmentConfig::preset("next-mixup").unwrap()
    );
}
