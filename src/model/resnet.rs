//! ResNet-18 and ResNet-50 with torchvision's parameter names (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`, ...), so a torchvision state dict maps
//! one to one. Global pooling is a mean over H and W, or (`model.pool = "adaptive"`)
//! torchvision's own `adaptive_avg_pool2d(x, 1)`, which ATen computes as that same mean.

use super::config::{ModelConfig, Pool, Stem};
use tch::Tensor;
use tch::nn::{self, ConvConfig, Module, ModuleT};

fn conv(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, stride: i64, padding: i64) -> nn::Conv2D {
    nn::conv2d(
        p,
        c_in,
        c_out,
        kernel,
        ConvConfig {
            stride,
            padding,
            bias: false,
            ..Default::default()
        },
    )
}

fn bn(p: nn::Path, channels: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, channels, Default::default())
}

/// A residual block; `convs[i]` is followed by `bns[i]`.
#[derive(Debug)]
struct Block {
    convs: Vec<nn::Conv2D>,
    bns: Vec<nn::BatchNorm>,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn basic(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        Self {
            convs: vec![
                conv(p / "conv1", c_in, c_out, 3, stride, 1),
                conv(p / "conv2", c_out, c_out, 3, 1, 1),
            ],
            bns: vec![bn(p / "bn1", c_out), bn(p / "bn2", c_out)],
            downsample: (stride != 1 || c_in != c_out).then(|| {
                (
                    conv(p / "downsample" / "0", c_in, c_out, 1, stride, 0),
                    bn(p / "downsample" / "1", c_out),
                )
            }),
        }
    }

    /// torchvision's Bottleneck (stride on the 3x3 conv, expansion 4).
    fn bottleneck(p: &nn::Path, c_in: i64, width: i64, stride: i64) -> Self {
        let c_out = width * 4;
        Self {
            convs: vec![
                conv(p / "conv1", c_in, width, 1, 1, 0),
                conv(p / "conv2", width, width, 3, stride, 1),
                conv(p / "conv3", width, c_out, 1, 1, 0),
            ],
            bns: vec![
                bn(p / "bn1", width),
                bn(p / "bn2", width),
                bn(p / "bn3", c_out),
            ],
            downsample: (stride != 1 || c_in != c_out).then(|| {
                (
                    conv(p / "downsample" / "0", c_in, c_out, 1, stride, 0),
                    bn(p / "downsample" / "1", c_out),
                )
            }),
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut ys = xs.shallow_clone();
        for (i, (c, b)) in self.convs.iter().zip(&self.bns).enumerate() {
            ys = ys.apply(c).apply_t(b, train);
            if i < last {
                ys = ys.relu();
            }
        }
        let shortcut = match &self.downsample {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (ys + shortcut).relu()
    }
}

/// A ResNet whose first `frozen_stages` stages (0: none; 1: the stem; 2: stem and layer1;
/// ...; 5: the whole backbone) run their BatchNorm in eval mode.
#[derive(Debug)]
pub struct ResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    imagenet_stem: bool,
    layers: Vec<Vec<Block>>,
    fc: nn::Linear,
    frozen_stages: usize,
    pool: Pool,
}

impl ResNet {
    /// Builds the model's variables under `root` (initialised by libtorch's generator).
    pub fn new(root: &nn::Path, config: &ModelConfig) -> Self {
        let w = config.width;
        let (conv1, imagenet_stem) = match config.stem {
            Stem::Imagenet => (conv(root / "conv1", 3, w, 7, 2, 3), true),
            Stem::Cifar => (conv(root / "conv1", 3, w, 3, 1, 1), false),
        };
        let bn1 = bn(root / "bn1", w);
        let (counts, bottleneck) = config.arch.stages();
        let mut c_in = w;
        let mut layers = Vec::new();
        for (i, &count) in counts.iter().enumerate() {
            let p = root / format!("layer{}", i + 1);
            let width = w << i;
            let blocks = (0..count)
                .map(|b| {
                    let stride = if b == 0 && i > 0 { 2 } else { 1 };
                    let block = if bottleneck {
                        Block::bottleneck(&(&p / b), c_in, width, stride)
                    } else {
                        Block::basic(&(&p / b), c_in, width, stride)
                    };
                    c_in = if bottleneck { width * 4 } else { width };
                    block
                })
                .collect();
            layers.push(blocks);
        }
        let fc = nn::linear(root / "fc", c_in, config.classes, Default::default());
        Self {
            conv1,
            bn1,
            imagenet_stem,
            layers,
            fc,
            frozen_stages: config.freeze.frozen_stages(),
            pool: config.pool,
        }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let stage_train = |stage: usize| train && stage >= self.frozen_stages;
        let mut x = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, stage_train(0))
            .relu();
        if self.imagenet_stem {
            x = x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            for block in layer {
                x = block.forward(&x, stage_train(i + 1));
            }
        }
        let pooled = match self.pool {
            Pool::Mean => x.mean_dim([2i64, 3].as_slice(), false, x.kind()),
            Pool::Adaptive => x.adaptive_avg_pool2d([1, 1]).flatten(1, -1),
        };
        self.fc.forward(&pooled)
    }
}
