//! Mixup and CutMix over an augmented batch, with label mixing (tensor ops on any device).

use super::params::MixParams;
use crate::data::NUM_CLASSES;
use tch::{IndexOp, Kind, Tensor};

/// Mixes `images` (`N x 3 x S x S`, float) with the batch rolled by one, and returns the
/// images and the soft targets (`N x 10`, rows summing to 1).
pub fn apply(images: &Tensor, labels: &Tensor, mix: &MixParams) -> (Tensor, Tensor) {
    let one_hot = labels
        .to_device(images.device())
        .one_hot(NUM_CLASSES as i64)
        .to_kind(Kind::Float);
    let rolled = images.roll([1i64].as_slice(), [0i64].as_slice());
    let rolled_targets = one_hot.roll([1i64].as_slice(), [0i64].as_slice());
    let (mixed, lambda) = match mix {
        MixParams::Mixup { lambda } => (images * *lambda + rolled * (1.0 - lambda), *lambda),
        MixParams::Cutmix {
            lambda,
            r#box: [top, left, h, w],
        } => {
            let out = images.copy();
            out.i((.., .., *top..top + h, *left..left + w))
                .copy_(&rolled.i((.., .., *top..top + h, *left..left + w)));
            (out, *lambda)
        }
    };
    (mixed, one_hot * lambda + rolled_targets * (1.0 - lambda))
}
