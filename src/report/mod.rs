//! What a person looks at: image grids, plots and the HTML report of a run.

mod grid;
mod html;
mod preview;
mod svg;
mod write;

pub use grid::{denormalize, image_grid};
pub use html::{Misclassified, render};
pub use preview::{MAX_PREVIEW_BYTES, PreviewError, check_preview, preview_bytes, write_preview};
pub use svg::{confusion_heatmap, learning_curves};
pub use write::{MISCLASSIFIED_SHOWN, ReportError, pick_misclassified, rerender, write_report};
