//! `audit --plan`'s table: the runs, which are reused, what each starts from, and the
//! estimated time of the rest.

use super::common::spelled;
use cifar_repro::audit::{AuditOptions, Estimate, MAX_TIMED_BATCH, Plan, Work};

/// Steps timed per distinct kind of run (after one untimed).
pub const PLAN_STEPS: usize = 3;

/// Prints the plan and its estimate on the options' device.
pub fn print(source: &str, plan: &Plan, options: &AuditOptions) -> anyhow::Result<()> {
    tracing::info!("timing {PLAN_STEPS} steps of each distinct kind of run to train...");
    let estimate = plan.estimate(options.device, PLAN_STEPS)?;
    let reused = plan.runs.iter().filter(|r| r.finished).count();
    println!(
        "{}: {} distinct runs for {} seeds ({reused} finished in {} and reused, {} to train)",
        source,
        plan.runs.len(),
        options.seeds,
        options.out.display(),
        plan.runs.len() - reused
    );
    print_runs(plan, &estimate);
    for (id, file) in &plan.evaluations {
        println!(
            "evaluated, not trained: {id}: {} once on the test split",
            file.display()
        );
    }
    for (id, why) in &plan.not_run {
        println!("not run: {id}: {why}");
    }
    print_commands(plan, options);
    print_costs(&estimate, options);
    Ok(())
}

/// The table of runs: folder, seed, steps, estimate, what each starts from, its claims.
fn print_runs(plan: &Plan, estimate: &Estimate) {
    println!(
        "{:<22} {:>4} {:>6} {:>10}  {:<22} claims",
        "run", "seed", "steps", "estimate", "starts from"
    );
    for (run, seconds) in plan.runs.iter().zip(&estimate.run_seconds) {
        let time = match run.finished {
            true => "reused".to_owned(),
            false if !seconds.is_finite() => "unknown".to_owned(),
            false => duration(*seconds),
        };
        let seed = match run.copy {
            0 => run.seed_index.to_string(),
            copy => format!("{}#{}", run.seed_index, copy + 1),
        };
        let from = run
            .starts_from
            .as_ref()
            .map_or("-".into(), |f| f.display().to_string());
        println!(
            "{:<22} {:>4} {:>6} {:>10}  {from:<22} {}",
            run.folder.display(),
            seed,
            run.steps,
            time,
            run.claims.join(", ")
        );
    }
}

/// What a step and an evaluated image cost here for each kind of run, and the total.
fn print_costs(estimate: &Estimate, options: &AuditOptions) {
    if !estimate.costs.is_empty() {
        println!(
            "measured here ({}, steps timed at batch {MAX_TIMED_BATCH} at most and priced per image above it):",
            cifar_repro::runtime::device_name(options.device)
        );
    }
    for c in &estimate.costs {
        let s = &c.spec;
        println!(
            "  {} width {} {} stem, {}x{} batch {}, {}/{}, {}, {} threads: {:.3} s a step, {:.2} ms an evaluated image",
            spelled(&s.arch),
            s.width,
            spelled(&s.stem),
            s.side,
            s.side,
            s.batch,
            spelled(&s.precision),
            spelled(&s.memory_format),
            spelled(&c.determinism),
            c.threads,
            c.seconds_per_step,
            1e3 * c.seconds_per_eval_image
        );
    }
    println!(
        "estimated time to train: {} on {} (steps x measured step time, plus evaluations and a fixed cost per run and epoch)",
        duration(estimate.total_seconds()),
        cifar_repro::runtime::device_name(options.device)
    );
    if estimate.unknown() > 0 {
        println!(
            "  plus {} runs of programs none of whose seeds has run yet: their time is unknown until one has (then the mean of those that ran)",
            estimate.unknown()
        );
    }
}

/// Every command the plan would run, with its folder.
fn print_commands(plan: &Plan, options: &AuditOptions) {
    let programs: Vec<_> = plan
        .runs
        .iter()
        .filter_map(|r| match &r.work {
            Work::Program(program) if !r.finished => Some((r, program)),
            _ => None,
        })
        .collect();
    if programs.is_empty() {
        return;
    }
    println!("commands it would run (no shell; each in its own process group):");
    for (run, program) in programs {
        let folder = options.out.join(&run.folder);
        println!(
            "  {}: in {}: {}",
            run.folder.display(),
            program.workdir.display(),
            program.argv(&folder).join(" ")
        );
    }
}

/// Seconds as "1 h 02 min", "3 min 05 s" or "12 s".
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}
