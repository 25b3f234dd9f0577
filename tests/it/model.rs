//! Models: torchvision names, pretrained loading by name and shape, freezing.

use cifar_repro::model::{Arch, Freeze, Model, ModelConfig, ModelError, Stem};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/resnet18-w8.pth")
}

fn config(width: i64, freeze: Freeze) -> ModelConfig {
    ModelConfig {
        arch: Arch::Resnet18,
        stem: Stem::Imagenet,
        width,
        classes: 10,
        freeze,
        pretrained: None,
        pool: cifar_repro::model::Pool::Mean,
    }
}

#[test]
fn a_torchvision_state_dict_loads_by_name_with_the_head_replaced() {
    let mut model = Model::new(&config(8, Freeze::None), Device::Cpu, 1).unwrap();
    let head_before = model.vs.variables()["fc.weight"].copy();
    model.load(&fixture(), true).unwrap();
    let source: std::collections::HashMap<String, Tensor> =
        cifar_repro::pth::read_state_dict(&fixture())
            .unwrap()
            .into_iter()
            .collect();
    let vars = model.vs.variables();
    for name in [
        "conv1.weight",
        "bn1.running_var",
        "layer3.0.downsample.0.weight",
        "layer4.1.bn2.bias",
    ] {
        assert!(vars[name].equal(&source[name]), "{name} not copied");
    }
    assert_eq!(vars["fc.weight"].size(), [10, 64]);
    assert!(
        vars["fc.weight"].equal(&head_before),
        "a 1000-class head must not replace the 10-class one"
    );
}

#[test]
fn wrong_shapes_name_the_first_mismatch() {
    let mut model = Model::new(&config(16, Freeze::None), Device::Cpu, 1).unwrap();
    match model.load(&fixture(), true) {
        Err(ModelError::Shape {
            name,
            expected,
            found,
            ..
        }) => {
            assert_eq!(name, "bn1.bias");
            assert_eq!((expected, found), (vec![16], vec![8]));
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let mut resnet50 = Model::new(
        &ModelConfig {
            arch: Arch::Resnet50,
            ..config(8, Freeze::None)
        },
        Device::Cpu,
        1,
    )
    .unwrap();
    assert!(matches!(
        resnet50.load(&fixture(), true),
        Err(ModelError::Missing { .. } | ModelError::Shape { .. })
    ));
}

#[test]
fn freezing_policies_leave_the_right_parameters_trainable() {
    let names = |freeze| {
        let model = Model::new(&config(8, freeze), Device::Cpu, 1).unwrap();
        model
            .trainable()
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Freeze::Backbone), vec!["fc.bias", "fc.weight"]);
    let up_to_2 = names(Freeze::UpTo(2));
    assert!(
        up_to_2
            .iter()
            .all(|n| n.starts_with("layer3") || n.starts_with("layer4") || n.starts_with("fc"))
    );
    assert!(up_to_2.iter().any(|n| n.starts_with("layer3")));
    assert_eq!(names(Freeze::None).len(), 62);
    assert_eq!("up-to:layer3".parse::<Freeze>(), Ok(Freeze::UpTo(3)));
    assert!("up-to:layer9".parse::<Freeze>().is_err());
}

#[test]
fn the_footprint_counts_every_variable_the_model_builds() {
    for arch in [Arch::Resnet18, Arch::Resnet50] {
        for stem in [Stem::Imagenet, Stem::Cifar] {
            let config = ModelConfig {
                arch,
                stem,
                ..config(8, Freeze::None)
            };
            let model = Model::new(&config, Device::Cpu, 0).unwrap();
            let built: i64 = model
                .vs
                .variables()
                .values()
                .map(Tensor::numel)
                .map(|n| n as i64)
                .sum();
            assert_eq!(
                config.footprint(32).parameters,
                built as u64,
                "{arch:?} {stem:?}"
            );
        }
    }
    // Activations grow with the square of the side.
    let c = config(8, Freeze::None);
    assert_eq!(
        c.footprint(64).activations_per_image,
        4 * c.footprint(32).activations_per_image
    );
}

/// A config for `recipe` (e.g. `resnet50-cifar`, `resnet50-pretrained`) at width 64, from
/// the quickstart's printed config.
fn recipe_config(dir: &Path, recipe: &str, pretrained: Option<&Path>) -> PathBuf {
    let printed = crate::common::cli(&["train", "--config", "quickstart", "--print-config"]);
    let text = String::from_utf8(printed.stdout).unwrap();
    let (arch, variant) = recipe.split_once('-').unwrap();
    let stem = if variant == "cifar" {
        "cifar"
    } else {
        "imagenet"
    };
    let mut model = format!(
        "[model]\narch = \"{arch}\"\nstem = \"{stem}\"\nwidth = 64\nclasses = 10\nfreeze = \"none\"\n"
    );
    if let Some(w) = pretrained {
        model.push_str(&format!("pretrained = {:?}\n", w.display().to_string()));
    }
    let start = text.find("[model]").unwrap();
    let end = start + text[start..].find("\n[").unwrap() + 1;
    let path = dir.join(format!("{recipe}.toml"));
    std::fs::write(&path, format!("{}{model}{}", &text[..start], &text[end..])).unwrap();
    path
}

/// `cifar-repro weights init` of `config` at `seed`: every tensor's SHA-256, by name.
fn init_digests(
    dir: &Path,
    config: &Path,
    seed: u64,
) -> std::collections::BTreeMap<String, String> {
    let out = dir.join(format!(
        "init-{seed}-{}.safetensors",
        config.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&out);
    let run = crate::common::cli(&[
        "weights",
        "init",
        "--config",
        config.to_str().unwrap(),
        "--torch-seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                cifar_repro::hash::sha256_hex(&cifar_repro::hash::tensor_bytes(&t)),
            )
        })
        .collect()
}

#[test]
fn initial_weights_equal_torchvisions_byte_for_byte() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/init/digests.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Pretrained weights to load (any values: only the head depends on the seed): a
    // 1000-class ResNet-50 as this tool initialises it.
    let imagenet = recipe_config(dir.path(), "resnet50-imagenet", None);
    let text = std::fs::read_to_string(&imagenet)
        .unwrap()
        .replace("classes = 10\n", "classes = 1000\n");
    let thousand = dir.path().join("resnet50-1000.toml");
    std::fs::write(&thousand, text).unwrap();
    let weights = dir.path().join("init-1-resnet50-1000.safetensors");
    init_digests(dir.path(), &thousand, 1);
    for (case, expected) in fixture["recipes"].as_object().unwrap() {
        let (recipe, seed) = case.split_once('@').unwrap();
        let pretrained = recipe.ends_with("pretrained").then_some(weights.as_path());
        let config = recipe_config(dir.path(), recipe, pretrained);
        let ours = init_digests(dir.path(), &config, seed.parse().unwrap());
        let expected = expected.as_object().unwrap();
        for (name, digest) in expected {
            assert_eq!(
                ours.get(name),
                digest.as_str().map(str::to_owned).as_ref(),
                "{case}: {name}"
            );
        }
        if pretrained.is_none() {
            assert_eq!(ours.len(), expected.len(), "{case}: the same tensors");
        }
    }
}
