//! Property tests of the augmentations (proptest). Failing cases are kept in
//! proptest-regressions/ and replayed first.

use cifar_repro::augment::{
    AugmentConfig, BatchParams, CropConfig, CropParams, ErasingConfig, ImageParams, JitterConfig,
    JitterOp, JitterParams, MixConfig, MixParams, NamedNormalize, Normalize, PaddingMode, cpu,
    device, draw_batch, mix,
};
use cifar_repro::determinism::SeedTree;
use cifar_repro::report::denormalize;
use proptest::prelude::*;
use tch::{Kind, Tensor};

fn images(seed: u64, n: usize) -> Tensor {
    let mut stream = SeedTree::new(seed).stream("test-images");
    let bytes: Vec<u8> = (0..n * 3072).map(|_| stream.below(256) as u8).collect();
    Tensor::from_slice(&bytes).view([n as i64, 3, 32, 32])
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// How far the two backends may differ, in [0, 1] pixel units: float32 rounding in the
/// jitter chain (about 30 ulp at 1.0 seen), far below one 8-bit step (1/255).
const PIXEL_TOLERANCE: f64 = 1e-5;

/// Normalisation divides by std, so a pixel-unit difference grows by 1/std.
fn smallest_std(config: &AugmentConfig) -> f64 {
    let (_, std) = config.normalize.values();
    f64::from(std.into_iter().fold(f32::INFINITY, f32::min))
}

fn bare(index: usize) -> ImageParams {
    ImageParams {
        index,
        crop: None,
        hflip: None,
        jitter: None,
        erase: None,
        resize: None,
        normalize: None,
    }
}

fn config_strategy() -> impl Strategy<Value = AugmentConfig> {
    let crop = proptest::option::of((0i64..9, prop::bool::ANY, 0.0f32..=1.0).prop_map(
        |(padding, reflect, fill)| CropConfig {
            size: 32,
            padding,
            padding_mode: if reflect {
                PaddingMode::Reflect
            } else {
                PaddingMode::Constant
            },
            fill,
        },
    ));
    let jitter = proptest::option::of(
        (0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=0.5).prop_map(
            |(brightness, contrast, saturation, hue)| JitterConfig {
                brightness,
                contrast,
                saturation,
                hue,
            },
        ),
    );
    let erasing = proptest::option::of((0.0f64..=1.0).prop_map(|p| ErasingConfig {
        p,
        scale: [0.02, 0.33],
        ratio: [0.3, 3.3],
        value: 0.0,
    }));
    let resize = prop::sample::select(vec![None, Some(40i64), Some(64)]);
    let normalize = prop::bool::ANY.prop_map(|imagenet| {
        Normalize::Named(if imagenet {
            NamedNormalize::Imagenet
        } else {
            NamedNormalize::Cifar
        })
    });
    let mix = prop::sample::select(vec![
        (None, None),
        (Some(0.2), None),
        (None, Some(1.0)),
        (Some(0.4), Some(0.5)),
    ]);
    (
        crop,
        proptest::option::of(0.0f64..=1.0),
        jitter,
        erasing,
        resize,
        normalize,
        mix,
    )
        .prop_map(
            |(crop, hflip, jitter, erasing, resize, normalize, (mixup, cutmix))| AugmentConfig {
                crop,
                hflip,
                jitter,
                erasing,
                resize,
                normalize,
                mixup: mixup.map(|alpha| MixConfig { alpha }),
                cutmix: cutmix.map(|alpha| MixConfig { alpha }),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn shapes_dtypes_and_finiteness_are_kept(config in config_strategy(), seed in any::<u64>(), n in 1usize..6) {
        prop_assert!(config.validate().is_ok());
        let batch = draw_batch(&config, &(0..n).collect::<Vec<_>>(), &mut SeedTree::new(seed).stream("p"), &mut SeedTree::new(seed).stream("m"));
        let out = cpu::apply(&images(seed, n), &batch.images, 2).unwrap();
        let side = config.output_side();
        prop_assert_eq!(out.size(), vec![n as i64, 3, side, side]);
        prop_assert_eq!(out.kind(), Kind::Float);
        prop_assert!(bool::try_from(out.isfinite().all()).unwrap());
    }

    #[test]
    fn cpu_and_device_backends_agree(config in config_strategy(), seed in any::<u64>(), n in 1usize..6) {
        let batch = draw_batch(&config, &(0..n).collect::<Vec<_>>(), &mut SeedTree::new(seed).stream("p"), &mut SeedTree::new(seed).stream("m"));
        let input = images(seed, n);
        let diff = max_diff(&cpu::apply(&input, &batch.images, 2).unwrap(), &device::apply(&input, &batch.images).unwrap());
        prop_assert!(diff <= PIXEL_TOLERANCE / smallest_std(&config), "backends differ by {}", diff);
    }

    #[test]
    fn same_seed_same_parameters_other_seed_other_parameters(config in config_strategy(), seed in any::<u64>()) {
        let draw = |s: u64| draw_batch(&config, &[0, 1, 2, 3, 4, 5, 6, 7], &mut SeedTree::new(s).stream("augment/epoch/0/batch/0"), &mut SeedTree::new(s).stream("mix/epoch/0/batch/0"));
        prop_assert_eq!(draw(seed), draw(seed));
        let random = config.crop.as_ref().is_some_and(|c| c.padding > 0)
            || config.jitter.as_ref().is_some_and(|j| j.brightness > 0.0)
            || config.mixup.is_some();
        if random {
            prop_assert_ne!(draw(seed), draw(seed.wrapping_add(1)));
        }
    }

    #[test]
    fn flip_twice_is_identity(seed in any::<u64>(), n in 1usize..5) {
        let input = images(seed, n);
        let flip: Vec<ImageParams> = (0..n).map(|i| ImageParams { hflip: Some(true), ..bare(i) }).collect();
        let once = (cpu::apply(&input, &flip, 1).unwrap() * 255.0).round().to_kind(Kind::Uint8);
        let twice = (cpu::apply(&once, &flip, 1).unwrap() * 255.0).round().to_kind(Kind::Uint8);
        prop_assert!(twice.equal(&input));
        prop_assert!(!once.equal(&input) || n == 0);
    }

    #[test]
    fn crop_at_the_padding_offset_is_identity(seed in any::<u64>(), padding in 0i64..16, reflect in any::<bool>()) {
        let input = images(seed, 2);
        let mode = if reflect { PaddingMode::Reflect } else { PaddingMode::Constant };
        let crop = CropParams { top: padding, left: padding, size: 32, padding, fill: 0.3, padding_mode: mode };
        let params: Vec<ImageParams> = (0..2).map(|i| ImageParams { crop: Some(crop.clone()), ..bare(i) }).collect();
        for out in [cpu::apply(&input, &params, 1).unwrap(), device::apply(&input, &params).unwrap()] {
            prop_assert!(max_diff(&out, &(input.to_kind(Kind::Float) / 255.0)) <= 1e-7);
        }
    }

    #[test]
    fn normalise_then_denormalise_is_identity(seed in any::<u64>(), imagenet in any::<bool>()) {
        let named = if imagenet { NamedNormalize::Imagenet } else { NamedNormalize::Cifar };
        let (mean, std) = Normalize::Named(named).values();
        let input = images(seed, 3);
        let params: Vec<ImageParams> = (0..3)
            .map(|i| ImageParams { normalize: Some(cifar_repro::augment::NormalizeParams { mean, std }), ..bare(i) })
            .collect();
        let back = denormalize(&cpu::apply(&input, &params, 1).unwrap(), mean, std);
        prop_assert!(max_diff(&back, &(input.to_kind(Kind::Float) / 255.0)) <= 1e-6);
    }

    #[test]
    fn factor_one_jitter_is_identity(seed in any::<u64>(), order in Just(()).prop_perturb(|_, mut rng| {
        let mut ops = vec![JitterOp::Brightness, JitterOp::Contrast, JitterOp::Saturation, JitterOp::Hue];
        for i in (1..4).rev() { ops.swap(i, rng.random_range(0..=i)); }
        ops
    })) {
        let input = images(seed, 3);
        let jitter = JitterParams { order, brightness: Some(1.0), contrast: Some(1.0), saturation: Some(1.0), hue: Some(0.0) };
        let params: Vec<ImageParams> = (0..3).map(|i| ImageParams { jitter: Some(jitter.clone()), ..bare(i) }).collect();
        let expected = input.to_kind(Kind::Float) / 255.0;
        prop_assert!(max_diff(&cpu::apply(&input, &params, 1).unwrap(), &expected) <= 1e-6);
        prop_assert!(max_diff(&device::apply(&input, &params).unwrap(), &expected) <= 1e-6);
    }

    #[test]
    fn mixed_label_weights_sum_to_one_and_cutmix_weight_is_the_kept_area(seed in any::<u64>(), alpha in 0.1f64..2.0, cut in any::<bool>()) {
        let config = AugmentConfig {
            mixup: (!cut).then_some(MixConfig { alpha }),
            cutmix: cut.then_some(MixConfig { alpha }),
            ..AugmentConfig::preset("e1-baseline").unwrap()
        };
        let n = 4;
        let BatchParams { images: params, mix: Some(mix_params) } =
            draw_batch(&config, &[0, 1, 2, 3], &mut SeedTree::new(seed).stream("augment"), &mut SeedTree::new(seed).stream("mix")) else { panic!("no mix drawn") };
        let input = cpu::apply(&images(seed, n), &params, 1).unwrap();
        let labels = Tensor::from_slice(&[0i64, 3, 3, 9]);
        let (mixed, targets) = mix::apply(&input, &labels, &mix_params);
        let sums = targets.sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
        prop_assert!(max_diff(&sums, &sums.ones_like()) <= 1e-6);
        if let MixParams::Cutmix { lambda, r#box: [_, _, h, w] } = mix_params {
            prop_assert!(((1.0 - lambda) - (h * w) as f64 / 1024.0).abs() < 1e-12);
            // The pasted pixels are exactly the previous image's.
            let changed = mixed.ne_tensor(&input).to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
            prop_assert!(changed <= n as i64 * 3 * h * w);
        }
    }
}
