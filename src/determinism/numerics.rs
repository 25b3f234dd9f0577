//! The numerics class: which rounding this machine's kernels do, measured rather than
//! guessed from CPU flags.
//!
//! Two CPUs that report the same instruction set (an Intel Sapphire Rapids and an AMD
//! EPYC, both "AVX512") can still round differently: oneDNN and MKL pick code paths by
//! vendor and model, not only by ISA. So a fixed probe runs one training step of a tiny
//! ResNet-shaped net (convolutions forward and backward, BatchNorm in train mode, ReLU,
//! mean pooling, linear, cross-entropy, one Adam step) on fixed inputs with the run's
//! thread count, and hashes every output bit. Two machines whose probe digests agree run
//! the same kernels to the bit; bit-exact expectations (golden snapshots, `verify`) hold
//! per class.

use crate::hash::sha256_hex;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The test hook's environment variable, which the binary reads (the library never
/// does): a digest to report instead of the measured one, to exercise what happens on a
/// machine of a class nobody recorded.
pub const DIGEST_OVERRIDE_ENV: &str = "CIFAR_REPRO_NUMERICS_DIGEST";

/// How many hex digits of the probe digest name the class.
const DIGEST_DIGITS: usize = 12;

/// A machine's numerics class, as `env` prints it and a manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumericsClass {
    /// `ARCH-OS-DEVICE-tTHREADS-DIGEST`, e.g. `x86_64-linux-cpu-t1-3fa2…`: what golden
    /// numerics snapshots are named by.
    pub name: String,
    /// SHA-256 of the probe's output bits.
    pub probe_sha256: String,
    /// The device the probe ran on (`cpu`, `cuda:0`).
    pub device: String,
    /// libtorch's intra-op threads during the probe.
    pub threads: i32,
    /// CPU vendor and model as the OS reports them (informative: the digest decides).
    pub cpu_vendor: String,
    /// The CPU's model name.
    pub cpu_model: String,
}

impl NumericsClass {
    /// Runs the probe on `device` with libtorch's current thread count (set it first,
    /// as training does) and names the class; `fake`, a test hook, replaces the digest.
    pub fn measure(device: Device, fake: Option<&str>) -> Result<Self, tch::TchError> {
        let digest = match fake {
            Some(fake) if !fake.is_empty() => fake.to_owned(),
            _ => probe_digest(device)?,
        };
        let threads = tch::get_num_threads();
        let device = crate::runtime::device_name(device);
        let (cpu_vendor, cpu_model) = cpu_identity();
        Ok(Self {
            name: format!(
                "{}-{}-{device}-t{threads}-{}",
                std::env::consts::ARCH,
                std::env::consts::OS,
                &digest[..digest.len().min(DIGEST_DIGITS)]
            )
            .replace(':', ""),
            probe_sha256: digest,
            device,
            threads,
            cpu_vendor,
            cpu_model,
        })
    }
}

/// The CPU's vendor and model from `/proc/cpuinfo` ("unknown" elsewhere).
fn cpu_identity() -> (String, String) {
    let info = crate::fsutil::read_capped(std::path::Path::new("/proc/cpuinfo"), 16 << 20)
        .unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into())
    };
    (field("vendor_id"), field("model name"))
}

/// `n` values in [-1, 1) from an integer hash of `salt` and the index: identical on every
/// machine, with no random generator involved.
fn fixed_values(n: usize, salt: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let mut x = (i ^ salt.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 32;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn fixed_tensor(shape: &[i64], salt: u64, scale: f32, device: Device) -> Tensor {
    let n = shape.iter().product::<i64>() as usize;
    let values: Vec<f32> = fixed_values(n, salt).iter().map(|v| v * scale).collect();
    Tensor::from_slice(&values)
        .reshape(shape)
        .to_device(device)
        .set_requires_grad(true)
}

/// The probe net's parameters, made from fixed values in the order they are asked for
/// (each with the next salt), and kept in that order for hashing.
struct FixedParams {
    salt: u64,
    device: Device,
    all: Vec<Tensor>,
}

impl FixedParams {
    fn next(&mut self, shape: &[i64], scale: f32) -> Tensor {
        self.salt += 1;
        let t = fixed_tensor(shape, self.salt, scale, self.device);
        self.all.push(t.shallow_clone());
        t
    }
}

/// One stage of the probe net: a 3x3 convolution, BatchNorm in train mode and ReLU, plus
/// a strided 1x1 downsample of the input when `stride` > 1.
struct ProbeStage {
    conv: Tensor,
    down: Option<Tensor>,
    gamma: Tensor,
    beta: Tensor,
    running: (Tensor, Tensor),
    stride: i64,
}

impl ProbeStage {
    fn new(params: &mut FixedParams, cin: i64, cout: i64, stride: i64) -> Self {
        let device = params.device;
        let conv = params.next(&[cout, cin, 3, 3], (3.0 / (cin * 9) as f32).sqrt());
        let down = (stride > 1).then(|| params.next(&[cout, cin, 1, 1], (3.0 / cin as f32).sqrt()));
        ProbeStage {
            conv,
            down,
            gamma: params.next(&[cout], 0.1),
            beta: params.next(&[cout], 0.1),
            running: (
                Tensor::zeros([cout], (Kind::Float, device)),
                Tensor::ones([cout], (Kind::Float, device)),
            ),
            stride,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let s = [self.stride, self.stride];
        let y = x.conv2d(&self.conv, None::<Tensor>, s, [1, 1], [1, 1], 1);
        let (mean, var) = &self.running;
        let y = y
            .batch_norm(
                Some(&self.gamma),
                Some(&self.beta),
                Some(mean),
                Some(var),
                true,
                0.1,
                1e-5,
                false,
            )
            .relu();
        match &self.down {
            Some(d) => y + x.conv2d(d, None::<Tensor>, s, [0, 0], [1, 1], 1),
            None => y,
        }
    }
}

/// The cross-entropy of the probe net (widths 8 to 64, mean pooling, a linear layer) on
/// `input`, with its gradients computed.
fn probe_loss(params: &mut FixedParams, input: &Tensor, labels: &Tensor) -> Tensor {
    let widths = [(3, 8, 1), (8, 16, 2), (16, 32, 2), (32, 64, 2)];
    let stages: Vec<ProbeStage> = widths
        .iter()
        .map(|&(cin, cout, stride)| ProbeStage::new(params, cin, cout, stride))
        .collect();
    let fc_w = params.next(&[10, 64], 0.125);
    let fc_b = params.next(&[10], 0.125);
    tch::with_grad(|| {
        let x = stages
            .iter()
            .fold(input.shallow_clone(), |x, stage| stage.forward(&x));
        let pooled = x.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
        let loss = pooled
            .linear(&fc_w, Some(&fc_b))
            .cross_entropy_for_logits(labels);
        loss.backward();
        loss
    })
}

/// One Adam step from zero moments (lr 1e-3, betas 0.9/0.999, eps 1e-8), spelt out in
/// primitive ops so that the class measures the kernels and never our optimiser's code.
fn adam_step(params: &[Tensor]) {
    for p in params {
        let g = p.grad();
        let exp_avg = &g * 0.1;
        let exp_avg_sq = (&g * &g) * 0.001;
        let denom = exp_avg_sq.sqrt() / 0.001f64.sqrt() + 1e-8;
        let update = (exp_avg / denom) * (1e-3 / 0.1);
        let _ = p.detach().g_sub_(&update);
    }
}

/// Appends a tensor's float32 values, little-endian.
fn push_bytes(bytes: &mut Vec<u8>, t: &Tensor) -> Result<(), tch::TchError> {
    let values = Vec::<f32>::try_from(t.to_device(Device::Cpu).contiguous().view(-1))?;
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    Ok(())
}

/// One training step of a small net shaped like the golden run's ResNet (32x32 input,
/// widths 8 to 64, a strided stage with a 1x1 downsample), returning the SHA-256 of the
/// loss, every gradient and every updated parameter.
pub fn probe_digest(device: Device) -> Result<String, tch::TchError> {
    let _guard = tch::no_grad_guard();
    let batch = 32;
    let input = fixed_tensor(&[batch, 3, 32, 32], 1, 2.0, device).detach();
    let labels = Tensor::from_slice(&(0..batch).map(|i| (i * 7) % 10).collect::<Vec<i64>>())
        .to_device(device);
    let mut params = FixedParams {
        salt: 10,
        device,
        all: Vec::new(),
    };
    let loss = probe_loss(&mut params, &input, &labels);
    let mut bytes = Vec::new();
    push_bytes(&mut bytes, &loss)?;
    for p in &params.all {
        push_bytes(&mut bytes, &p.grad())?;
    }
    adam_step(&params.all);
    for p in &params.all {
        push_bytes(&mut bytes, p)?;
    }
    Ok(sha256_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_are_spread_over_minus_one_to_one() {
        let v = fixed_values(10_000, 3);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert_ne!(fixed_values(4, 1), fixed_values(4, 2));
    }

    #[test]
    fn the_probe_repeats_itself_to_the_bit() {
        let a = probe_digest(Device::Cpu).unwrap();
        assert_eq!(a, probe_digest(Device::Cpu).unwrap());
        assert_eq!(a.len(), 64);
    }
}
