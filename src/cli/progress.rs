//! Progress on long work: a bar on a terminal, plain log lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Reports progress of byte or item counts.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    last_line: Instant,
}

impl Progress {
    /// A bar when stderr is a terminal, else a line on stderr every few seconds.
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_message(label.to_owned());
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            last_line: Instant::now(),
        }
    }

    /// Records `done` of `total` bytes.
    pub fn bytes(&mut self, done: u64, total: Option<u64>) {
        match &self.bar {
            Some(bar) => {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            None if self.last_line.elapsed() > Duration::from_secs(5) => {
                self.last_line = Instant::now();
                let total = total.map_or(String::new(), |t| format!(" of {} MB", t >> 20));
                tracing::info!("{}: {} MB{total}", self.label, done >> 20);
            }
            None => {}
        }
    }

    /// Records `done` of `total` items with a message (no line when not on a terminal:
    /// the caller prints its own summary lines).
    pub fn items(&mut self, done: u64, total: u64, message: &str) {
        if let Some(bar) = &self.bar {
            if bar.length() != Some(total) {
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})")
                        .expect("static template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(self.label.clone());
                bar.set_length(total);
            }
            bar.set_position(done);
            bar.set_message(message.to_owned());
        }
    }

    /// Ends the bar (a no-op for log lines).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
