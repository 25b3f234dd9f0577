//! Classification metrics: accuracy with a 95% Clopper-Pearson interval, loss, macro
//! precision, recall and F1, per-class accuracy, confusion matrix.

pub mod float;
pub mod stats;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Counts gathered over batches.
#[derive(Debug, Clone)]
pub struct Tally {
    classes: usize,
    /// `confusion[true][predicted]`.
    confusion: Vec<Vec<u64>>,
    loss_sum: f64,
    count: u64,
}

impl Tally {
    /// An empty tally over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            confusion: vec![vec![0; classes]; classes],
            loss_sum: 0.0,
            count: 0,
        }
    }

    /// Adds a batch: `logits` (`N x C`), true `labels` (`N`), and the batch's mean loss.
    pub fn add(
        &mut self,
        logits: &Tensor,
        labels: &Tensor,
        mean_loss: f64,
    ) -> Result<(), tch::TchError> {
        let c = self.classes as i64;
        let predicted = logits.argmax(1, false).to_device(tch::Device::Cpu);
        let labels = labels.to_device(tch::Device::Cpu);
        let cells = (labels * c + predicted).bincount(None::<Tensor>, c * c);
        let cells = Vec::<i64>::try_from(cells.to_kind(Kind::Int64))?;
        for (i, n) in cells.into_iter().enumerate() {
            self.confusion[i / self.classes][i % self.classes] += n as u64;
        }
        let n = logits.size()[0] as u64;
        self.loss_sum += mean_loss * n as f64;
        self.count += n;
        Ok(())
    }

    /// The metrics of everything added.
    pub fn metrics(&self) -> Metrics {
        Metrics::from_confusion(
            self.confusion.clone(),
            self.loss_sum / self.count.max(1) as f64,
        )
    }
}

/// Metrics of one split at one point of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Images counted.
    pub count: u64,
    /// The fraction predicted right.
    pub accuracy: f64,
    /// 95% Clopper-Pearson interval of the accuracy.
    pub accuracy_ci95: [f64; 2],
    /// Not finite when the run diverged.
    #[serde(with = "float")]
    pub loss: f64,
    /// Mean of the per-class precisions.
    pub macro_precision: f64,
    /// Mean of the per-class recalls.
    pub macro_recall: f64,
    /// Mean of the per-class F1 scores (as scikit-learn's `average="macro"`).
    pub macro_f1: f64,
    /// Each class's recall, by class index.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

impl Metrics {
    /// Computes everything from a confusion matrix and the mean loss. A class never
    /// predicted has precision 0 (scikit-learn's `zero_division=0`).
    pub fn from_confusion(confusion: Vec<Vec<u64>>, loss: f64) -> Self {
        let classes = confusion.len();
        let count: u64 = confusion.iter().flatten().sum();
        let correct: u64 = (0..classes).map(|i| confusion[i][i]).sum();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut precision = Vec::new();
        let mut recall = Vec::new();
        let mut f1 = Vec::new();
        for (i, row) in confusion.iter().enumerate() {
            let tp = row[i];
            let predicted: u64 = confusion.iter().map(|r| r[i]).sum();
            let actual: u64 = row.iter().sum();
            let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
            precision.push(p);
            recall.push(r);
            f1.push(if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            });
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        Self {
            count,
            accuracy: ratio(correct, count),
            accuracy_ci95: stats::clopper_pearson(correct, count, 0.05),
            loss,
            macro_precision: mean(&precision),
            macro_recall: mean(&recall),
            macro_f1: mean(&f1),
            per_class_accuracy: recall,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_scores_match_scikit_learn() {
        // y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]; sklearn: precision 0.7222..,
        // recall 0.7222.., f1 0.6888.. (macro), accuracy 4/6.
        let m = Metrics::from_confusion(vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]], 0.5);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((m.macro_precision - (1.0 + 0.5 + 0.5) / 3.0).abs() < 1e-12);
        assert!((m.macro_recall - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn tally_counts_batches_into_the_confusion_matrix() {
        let mut t = Tally::new(3);
        let logits =
            Tensor::from_slice(&[5.0f32, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0]).view([3, 3]);
        t.add(&logits, &Tensor::from_slice(&[0i64, 1, 2]), 1.5)
            .unwrap();
        let m = t.metrics();
        assert_eq!(
            m.confusion,
            vec![vec![1, 0, 0], vec![0, 1, 0], vec![0, 1, 0]]
        );
        assert_eq!((m.count, m.loss), (3, 1.5));
    }
}
