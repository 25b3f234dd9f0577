//! What a person looks at: image grids (and, later, plots and HTML reports).

mod grid;

pub use grid::{denormalize, image_grid};
