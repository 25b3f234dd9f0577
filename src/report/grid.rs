//! Image grids: cells of equal size in rows, with a gap between them.

use tch::{Kind, Tensor};

/// Undoes channel normalisation: `x * std + mean`, clamped to 0..1.
pub fn denormalize(images: &Tensor, mean: [f32; 3], std: [f32; 3]) -> Tensor {
    let device = images.device();
    let mean = Tensor::from_slice(&mean)
        .to_device(device)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&std)
        .to_device(device)
        .view([1, 3, 1, 1]);
    (images * std + mean).clamp(0.0, 1.0)
}

/// Lays out `cells` (float `N x 3 x S x S`, values 0..1) in rows of `columns`, `gap`
/// white pixels apart; returns u8 `3 x H x W` on the CPU, ready for `tch::vision::image::save`.
pub fn image_grid(cells: &Tensor, columns: i64, gap: i64) -> Tensor {
    let cells = cells.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let [n, _, side, _] = cells.size()[..] else {
        return Tensor::zeros([3, 1, 1], (Kind::Uint8, tch::Device::Cpu));
    };
    let columns = columns.clamp(1, n.max(1));
    let rows = (n + columns - 1) / columns;
    let padded = Tensor::ones(
        [rows * columns, 3, side + gap, side + gap],
        (Kind::Float, tch::Device::Cpu),
    );
    padded
        .narrow(0, 0, n)
        .narrow(2, 0, side)
        .narrow(3, 0, side)
        .copy_(&cells);
    let grid = padded
        .view([rows, columns, 3, side + gap, side + gap])
        .permute([2, 0, 3, 1, 4])
        .reshape([3, rows * (side + gap), columns * (side + gap)]);
    let trimmed =
        grid.narrow(1, 0, rows * (side + gap) - gap)
            .narrow(2, 0, columns * (side + gap) - gap);
    (trimmed * 255.0)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}
