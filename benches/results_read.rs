//! `audit --results` reading: a CSV of 100,000 and of 1,000,000 rows (one claim, one seed
//! per row), side by side. The ratio of the two times shows how reading scales (10 is
//! linear); the old reader scanned a claim's rows once per row, and did not finish a
//! 10 MB file in 300 s.

use cifar_repro::audit::Results;
use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write;

fn csv(rows: usize) -> String {
    let mut text = String::from("claim,seed,value\n");
    for i in 0..rows {
        let _ = writeln!(text, "acc,{i},0.{:04}", i % 10_000);
    }
    text
}

fn results_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("results");
    group.sample_size(10);
    for (name, rows) in [("100k", 100_000), ("1m", 1_000_000)] {
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv(rows)).unwrap();
        group.bench_function(name, |b| b.iter(|| Results::read(&path).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, results_read);
criterion_main!(benches);
