//! Optimisers against torch.optim (fixture: tests/fixtures/optim/generate.py), state
//! save/restore, and schedules.

use cifar_repro::optim::{OptimConfig, Optimizer, Schedule};
use std::path::Path;
use tch::{Kind, Tensor};

fn floats(v: &serde_json::Value) -> Vec<f32> {
    serde_json::from_value(v.clone()).unwrap()
}

fn loss(x: &Tensor, y: &Tensor, params: &[(String, Tensor)]) -> Tensor {
    (x.matmul(&params[1].1) + &params[0].1 - y)
        .pow_tensor_scalar(2)
        .mean(Kind::Float)
}

#[test]
fn trajectories_match_torch_optim_within_1e_6() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/optim/trajectories.json");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let x = Tensor::from_slice(&floats(&fixture["x"])).view([8, 5]);
    let y = Tensor::from_slice(&floats(&fixture["y"])).view([8, 3]);
    for (name, case) in fixture["cases"].as_object().unwrap() {
        let config: OptimConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let params = vec![
            (
                "b".to_owned(),
                Tensor::from_slice(&floats(&fixture["b0"])).set_requires_grad(true),
            ),
            (
                "w".to_owned(),
                Tensor::from_slice(&floats(&fixture["w0"]))
                    .view([5, 3])
                    .set_requires_grad(true),
            ),
        ];
        let mut optimizer = Optimizer::new(config.clone(), &params);
        for (step, expected) in case["trajectory"].as_array().unwrap().iter().enumerate() {
            Optimizer::zero_grad(&params);
            loss(&x, &y, &params).backward();
            optimizer.step(&params, config.lr);
            for (key, tensor) in [("b", &params[0].1), ("w", &params[1].1)] {
                let want =
                    Tensor::from_slice(&floats(&expected[key])).view(tensor.size().as_slice());
                let diff = (tensor - want).abs().max().double_value(&[]);
                assert!(
                    diff <= 1e-6,
                    "{name} step {}: {key} differs by {diff}",
                    step + 1
                );
            }
        }
    }
}

#[test]
fn state_saves_and_restores_exactly() {
    let make = || {
        vec![(
            "p".to_owned(),
            Tensor::from_slice(&[1.0f32, -2.0, 3.0]).set_requires_grad(true),
        )]
    };
    let config: OptimConfig =
        serde_json::from_str(r#"{"name": "adamw", "lr": 0.1, "weight_decay": 0.01}"#).unwrap();
    let run = |params: &[(String, Tensor)], opt: &mut Optimizer, steps: usize| {
        for _ in 0..steps {
            Optimizer::zero_grad(params);
            (&params[0].1 * &params[0].1).sum(Kind::Float).backward();
            opt.step(params, 0.1);
        }
    };
    let (straight, interrupted) = (make(), make());
    let mut a = Optimizer::new(config.clone(), &straight);
    run(&straight, &mut a, 10);
    let mut b = Optimizer::new(config.clone(), &interrupted);
    run(&interrupted, &mut b, 4);
    let saved: std::collections::HashMap<String, Tensor> = b
        .state_tensors(&interrupted)
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let mut restored = Optimizer::new(config, &interrupted);
    restored.load_state(b.step, &saved, &interrupted).unwrap();
    run(&interrupted, &mut restored, 6);
    assert!(
        straight[0].1.equal(&interrupted[0].1),
        "resumed optimiser drifted"
    );
}

#[test]
fn schedules_are_pure_functions_of_the_step() {
    let lr = |s: &Schedule, step| s.lr(0.1, step, 10, 100);
    assert_eq!(lr(&Schedule::Constant, 57), 0.1);
    let multi = Schedule::MultiStep {
        milestones: vec![3, 7],
        gamma: 0.1,
    };
    assert_eq!(
        (lr(&multi, 29), lr(&multi, 30), lr(&multi, 70)),
        (0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1)
    );
    let step = Schedule::Step {
        step_epochs: 4,
        gamma: 0.5,
    };
    assert_eq!(
        (lr(&step, 39), lr(&step, 40), lr(&step, 80)),
        (0.1, 0.05, 0.025)
    );
    let cosine = Schedule::Cosine {
        warmup_epochs: 1.0,
        min_lr: 0.0,
    };
    assert!((lr(&cosine, 0) - 0.01).abs() < 1e-12 && (lr(&cosine, 9) - 0.1).abs() < 1e-12);
    assert!((lr(&cosine, 99) - 0.0).abs() < 1e-4 && lr(&cosine, 55) < 0.1);
    let one = Schedule::OneCycle {
        max_lr: 0.1,
        pct_start: 0.3,
        div_factor: 25.0,
        final_div_factor: 1e4,
    };
    assert!((lr(&one, 0) - 0.004).abs() < 1e-12);
    assert!((lr(&one, 29) - 0.1).abs() < 1e-12);
    assert!((lr(&one, 99) - 0.004 / 1e4).abs() < 1e-12);
}
