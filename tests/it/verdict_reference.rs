//! The verdict statistics against scipy and statsmodels: reference values in
//! `tests/fixtures/stats/reference.json`, written by `generate.py` beside it.

use cifar_repro::audit::Relation;
use cifar_repro::audit::verdict::{Adjust, Claimed, Evidence, effect, equivalence, levels};
use cifar_repro::metrics::stats::{student_t_cdf, student_t_quantile};
use serde_json::Value;
use std::path::Path;

fn reference() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stats/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(ours: f64, theirs: &Value, tolerance: f64, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() <= tolerance * theirs.abs().max(1.0),
        "{what}: ours {ours}, reference {theirs}"
    );
}

#[test]
fn student_t_matches_scipy() {
    for case in reference()["t"].as_array().unwrap() {
        let df = case["df"].as_f64().unwrap();
        if let Some(x) = case["x"].as_f64() {
            close(
                student_t_cdf(x, df),
                &case["cdf"],
                1e-9,
                &format!("cdf({x}, {df})"),
            );
        } else {
            let p = case["p"].as_f64().unwrap();
            close(
                student_t_quantile(p, df),
                &case["quantile"],
                1e-6,
                &format!("quantile({p}, {df})"),
            );
        }
    }
}

#[test]
fn tost_against_a_claim_of_many_runs_matches_statsmodels_welch() {
    for case in reference()["welch"].as_array().unwrap() {
        let claimed = Claimed {
            value: case["claimed"].as_f64().unwrap(),
            runs: case["runs"].as_u64().unwrap() as usize,
            spread: case["spread"].as_f64(),
        };
        let e = equivalence(
            &floats(&case["seeds"]),
            claimed,
            case["margin"].as_f64().unwrap(),
            0.0,
        );
        close(e.p_reproduced, &case["p_reproduced"], 1e-9, "welch TOST");
    }
}

#[test]
fn a_single_run_claim_matches_scipy() {
    for case in reference()["single"].as_array().unwrap() {
        let claimed = Claimed {
            value: case["claimed"].as_f64().unwrap(),
            runs: 1,
            spread: None,
        };
        let e = equivalence(
            &floats(&case["seeds"]),
            claimed,
            case["margin"].as_f64().unwrap(),
            0.0,
        );
        close(
            e.p_reproduced,
            &case["p_reproduced"],
            1e-9,
            "single-run TOST",
        );
        close(
            e.p_not_reproduced,
            &case["p_not_reproduced"],
            1e-9,
            "single-run outside",
        );
    }
}

#[test]
fn paired_effects_match_scipy_one_sided_t_tests() {
    for case in reference()["effect"].as_array().unwrap() {
        let e: Evidence = effect(
            &floats(&case["differences"]),
            Relation::Greater,
            case["margin"].as_f64().unwrap(),
            0.0,
        );
        close(
            e.p_reproduced,
            &case["p_reproduced"],
            1e-9,
            "effect above 0",
        );
        close(
            e.p_not_reproduced,
            &case["p_not_reproduced"],
            1e-9,
            "effect below the margin",
        );
    }
}

#[test]
fn holm_leaves_the_same_claims_decisive_as_statsmodels() {
    for case in reference()["holm"].as_array().unwrap() {
        let alpha = case["alpha"].as_f64().unwrap();
        let evidence: Vec<Evidence> = floats(&case["p"])
            .into_iter()
            .map(|p| {
                let mut e = effect(&[0.0, 1.0], Relation::Greater, 1.0, 0.0);
                e.p_reproduced = p;
                e.p_not_reproduced = 1.0;
                e
            })
            .collect();
        let refs: Vec<Option<&Evidence>> = evidence.iter().map(Some).collect();
        let decisive: Vec<bool> = levels(&refs, alpha, Adjust::Holm)
            .iter()
            .zip(&evidence)
            .map(|(level, e)| e.p_reproduced <= *level)
            .collect();
        let expected: Vec<bool> = case["decisive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        assert_eq!(decisive, expected, "{case}");
    }
}

#[test]
fn bound_claims_match_scipy_one_sided_t_tests() {
    for case in reference()["bound"].as_array().unwrap() {
        let relation = match case["relation"].as_str().unwrap() {
            "less" => Relation::Less,
            _ => Relation::Greater,
        };
        let values = floats(&case["values"]);
        let bound = case["bound"].as_f64().unwrap();
        let e = cifar_repro::audit::verdict::bound(&values, relation, bound, 0.02, 0.0);
        close(e.p_reproduced, &case["p_reproduced"], 1e-9, "p_reproduced");
        close(
            e.p_not_reproduced,
            &case["p_not_reproduced"],
            1e-9,
            "p_not_reproduced",
        );
    }
}

#[test]
fn where_a_claim_sits_matches_scipy() {
    use cifar_repro::audit::Metric;
    use cifar_repro::audit::insight::placement;
    for case in reference()["placement"].as_array().unwrap() {
        let seeds = floats(&case["seeds"]);
        let claimed = case["claimed"].as_f64().unwrap();
        let sd = case["sd"].as_f64().unwrap();
        let p = placement(&seeds, claimed, sd, Metric::Accuracy, 1, 0.05);
        close(
            p.predictive_percentile,
            &case["predictive_percentile"],
            1e-9,
            "predictive",
        );
        close(
            p.empirical_percentile,
            &case["empirical_percentile"],
            1e-12,
            "empirical",
        );
    }
}

#[test]
fn noether_and_the_margins_p_match_scipy() {
    use cifar_repro::audit::insight::noether;
    use cifar_repro::metrics::stats::normal_cdf;
    for case in reference()["noether"].as_array().unwrap() {
        if let Some(seeds) = case["seeds"].as_u64() {
            let (p, a) = (case["p"].as_f64().unwrap(), case["alpha"].as_f64().unwrap());
            assert_eq!(noether(p, a, a) as u64, seeds, "p {p}, alpha {a}");
        } else {
            let (m, sd) = (
                case["margin"].as_f64().unwrap(),
                case["sd"].as_f64().unwrap(),
            );
            close(normal_cdf(m / sd), &case["p"], 1e-12, "Phi(margin/sd)");
        }
    }
}

#[test]
fn chi_square_quantiles_match_scipy() {
    use cifar_repro::metrics::stats::chi_square_quantile;
    for case in reference()["chi2"].as_array().unwrap() {
        let (p, df) = (case["p"].as_f64().unwrap(), case["df"].as_f64().unwrap());
        close(
            chi_square_quantile(p, df),
            &case["quantile"],
            1e-7,
            &format!("chi2 {p} {df}"),
        );
    }
}
