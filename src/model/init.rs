//! torchvision's initialisation of a ResNet, replayed draw for draw through libtorch's own
//! generator, so that `torch.manual_seed(S); torchvision.models.resnetXX(num_classes=10)`
//! and a model built here after `tch::manual_seed(S)` hold the same bytes.
//!
//! The order of draws is torchvision's:
//! 1. construction: every `Conv2d` and `Linear` resets as it is built (kaiming-uniform
//!    with a = sqrt(5); a Linear's bias uniform in ±1/sqrt(fan_in)). `_make_layer` builds a
//!    block's `downsample` before the block itself;
//! 2. `ResNet.__init__` then walks `modules()` (registration order: a block's convs, then
//!    its downsample) and redraws every conv weight with
//!    `kaiming_normal_(mode="fan_out", nonlinearity="relu")`; BatchNorm gets ones and zeros;
//! 3. the CIFAR recipe then replaces `conv1` with `nn.Conv2d(3, 64, 3, 1, 1, bias=False)`,
//!    which draws once more (kaiming-uniform), at the end;
//! 4. the pretrained recipe is `resnet50()` (1000 classes: its draws are made and then
//!    replaced by the loaded weights), then `fc = nn.Linear(2048, classes)` drawn (after
//!    the CIFAR stem's conv1, when both are asked for).
//!
//! A width other than torchvision's 64 has no torchvision twin; the same rule applies
//! with every channel count scaled (stage i has width·2^i planes).

use super::config::{Arch, ModelConfig, Stem};
use tch::{Kind, Tensor};

/// `torch.nn.init.kaiming_uniform_(t, a=sqrt(5))`: the bound computed in f64 exactly as
/// Python computes it.
fn kaiming_uniform(shape: &[i64]) -> Tensor {
    let fan_in: i64 = shape[1..].iter().product();
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a.powi(2))).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    Tensor::empty(shape, (Kind::Float, tch::Device::Cpu)).uniform_(-bound, bound)
}

/// A conv weight (out, in, k, k) as `nn.Conv2d` initialises it at construction.
fn conv(c_out: i64, c_in: i64, k: i64) -> Tensor {
    kaiming_uniform(&[c_out, c_in, k, k])
}

/// `kaiming_normal_(t, mode="fan_out", nonlinearity="relu")`, in place.
fn kaiming_normal_fan_out(t: &mut Tensor) {
    let size = t.size();
    let fan_out: i64 = size[0] * size[2..].iter().product::<i64>();
    let std = 2f64.sqrt() / (fan_out as f64).sqrt();
    let _ = t.normal_(0.0, std);
}

/// `nn.Linear(fan_in, out)` at construction: weight, then bias.
fn linear(out: i64, fan_in: i64) -> (Tensor, Tensor) {
    let weight = kaiming_uniform(&[out, fan_in]);
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    let bias = Tensor::empty([out], (Kind::Float, tch::Device::Cpu)).uniform_(-bound, bound);
    (weight, bias)
}

/// torchvision's ResNet with `classes` outputs and its own (ImageNet) stem, initialised as
/// `ResNet.__init__` leaves it: every variable by its torchvision name, on the CPU.
fn torchvision_resnet(arch: Arch, width: i64, classes: i64) -> Vec<(String, Tensor)> {
    let mut convs: Vec<(String, Tensor)> = Vec::new(); // in modules() order
    let mut bns: Vec<(String, i64)> = Vec::new();
    convs.push(("conv1.weight".into(), conv(width, 3, 7)));
    bns.push(("bn1".into(), width));
    let (counts, bottleneck) = arch.stages();
    let expansion = if bottleneck { 4 } else { 1 };
    let mut inplanes = width;
    for (i, &count) in counts.iter().enumerate() {
        let planes = width << i;
        for b in 0..count {
            let stride = if b == 0 && i > 0 { 2 } else { 1 };
            let block = format!("layer{}.{b}", i + 1);
            // _make_layer: the downsample first, then the block.
            let downsample = (b == 0 && (stride != 1 || inplanes != planes * expansion))
                .then(|| conv(planes * expansion, inplanes, 1));
            let shapes: Vec<(i64, i64, i64)> = if expansion == 1 {
                vec![(planes, inplanes, 3), (planes, planes, 3)]
            } else {
                vec![
                    (planes, inplanes, 1),
                    (planes, planes, 3),
                    (planes * 4, planes, 1),
                ]
            };
            for (j, (c_out, c_in, k)) in shapes.into_iter().enumerate() {
                convs.push((
                    format!("{block}.conv{}.weight", j + 1),
                    conv(c_out, c_in, k),
                ));
                bns.push((format!("{block}.bn{}", j + 1), c_out));
            }
            if let Some(weight) = downsample {
                convs.push((format!("{block}.downsample.0.weight"), weight));
                bns.push((format!("{block}.downsample.1"), planes * expansion));
            }
            inplanes = planes * expansion;
        }
    }
    let (fc_weight, fc_bias) = linear(classes, inplanes);
    for (_, weight) in &mut convs {
        kaiming_normal_fan_out(weight);
    }
    let mut vars = convs;
    for (name, channels) in bns {
        let ones = || Tensor::ones([channels], (Kind::Float, tch::Device::Cpu));
        let zeros = || Tensor::zeros([channels], (Kind::Float, tch::Device::Cpu));
        vars.push((format!("{name}.weight"), ones()));
        vars.push((format!("{name}.bias"), zeros()));
        vars.push((format!("{name}.running_mean"), zeros()));
        vars.push((format!("{name}.running_var"), ones()));
    }
    vars.push(("fc.weight".into(), fc_weight));
    vars.push(("fc.bias".into(), fc_bias));
    vars
}

/// The initial value of every variable of `config`'s model as the report's PyTorch would
/// make it from the generator's current state (seed it first), by torchvision name.
/// With pretrained weights, only the head (`fc.*`) matters: the rest is loaded over it.
pub fn torchvision_init(config: &ModelConfig) -> Vec<(String, Tensor)> {
    let _guard = tch::no_grad_guard();
    // Pretrained: resnetXX() with 1000 classes, drawn and then replaced by the loaded
    // weights; the new head is drawn last.
    let built_classes = if config.pretrained.is_some() {
        1000
    } else {
        config.classes
    };
    let mut vars = torchvision_resnet(config.arch, config.width, built_classes);
    if config.stem == Stem::Cifar {
        let stem = conv(config.width, 3, 3);
        if let Some((_, weight)) = vars.iter_mut().find(|(n, _)| n == "conv1.weight") {
            *weight = stem;
        }
    }
    if config.pretrained.is_some() {
        let inplanes = vars
            .iter()
            .find(|(n, _)| n == "fc.weight")
            .map_or(0, |(_, w)| w.size()[1]);
        let (weight, bias) = linear(config.classes, inplanes);
        vars.retain(|(n, _)| !n.starts_with("fc."));
        vars.push(("fc.weight".into(), weight));
        vars.push(("fc.bias".into(), bias));
    }
    vars
}
