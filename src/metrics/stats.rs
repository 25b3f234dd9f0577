//! The few distributions the metrics and the audit need: the regularised incomplete beta
//! and gamma functions, Clopper-Pearson intervals, Student's t and the normal.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularised incomplete beta function I_x(a, b).
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// Lentz's continued fraction for the incomplete beta function.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = if d.abs() < tiny { tiny } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = 1.0 + numerator / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The x with `f(x) = p` for an increasing `f` on [0, 1], by bisection.
fn invert(p: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// The exact (Clopper-Pearson) two-sided interval for a proportion: `k` successes of `n`,
/// confidence `1 - alpha`.
pub fn clopper_pearson(k: u64, n: u64, alpha: f64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (k, n) = (k as f64, n as f64);
    let lower = if k == 0.0 {
        0.0
    } else {
        invert(alpha / 2.0, |x| inc_beta(k, n - k + 1.0, x))
    };
    let upper = if k == n {
        1.0
    } else {
        invert(1.0 - alpha / 2.0, |x| inc_beta(k + 1.0, n - k, x))
    };
    [lower, upper]
}

/// The regularised lower incomplete gamma function P(a, x): a series below a + 1, Lentz's
/// continued fraction for the upper function above.
pub fn inc_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let front = (a * x.ln() - x - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        while term.abs() > sum.abs() * 1e-16 {
            n += 1.0;
            term *= x / n;
            sum += term;
        }
        return front * sum;
    }
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let (mut c, mut d) = (1.0 / tiny, 1.0 / b);
    let mut h = d;
    for i in 1..500 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        d = if d.abs() < tiny { tiny } else { d };
        c = b + an / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    1.0 - front * h
}

/// The standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    let half = 0.5 * inc_gamma(0.5, 0.5 * x * x);
    if x >= 0.0 { 0.5 + half } else { 0.5 - half }
}

/// The standard normal `p` quantile Φ⁻¹(p).
pub fn normal_quantile(p: f64) -> f64 {
    let to_x = |u: f64| (u - 0.5) * 20.0;
    to_x(invert(p, |u| normal_cdf(to_x(u))))
}

/// The chi-square `p` quantile with `df` degrees of freedom.
pub fn chi_square_quantile(p: f64, df: f64) -> f64 {
    let top = df + 40.0 * (2.0 * df).sqrt() + 100.0;
    let to_x = |u: f64| u * top;
    to_x(invert(p, |u| inc_gamma(df / 2.0, to_x(u) / 2.0)))
}

/// The CDF of Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    // P(|T| < |t|) = I_x(1/2, df/2) with x = t^2 / (df + t^2): exact near 0. Past 1e150
    // t^2 overflows: x is 1 to every digit an f64 has, and so is the cdf's distance from 0.5.
    let x = if t.abs() > 1e150 {
        1.0
    } else {
        t * t / (df + t * t)
    };
    let half = 0.5 * inc_beta(0.5, df / 2.0, x);
    if t >= 0.0 { 0.5 + half } else { 0.5 - half }
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    // Search t in (-1e3, 1e3) through a monotone map onto [0, 1].
    let to_t = |u: f64| (u - 0.5) * 2e3;
    to_t(invert(p, |u| student_t_cdf(to_t(u), df)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_matches_its_tables() {
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-12);
        assert!((normal_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-12);
        assert!((normal_quantile(0.95) - 1.644_853_626_951_472_2).abs() < 1e-9);
        assert_eq!(normal_cdf(0.0), 0.5);
    }

    #[test]
    fn the_t_cdf_is_0_or_1_far_out_and_never_nan() {
        for t in [1e200, f64::MAX, f64::INFINITY] {
            assert_eq!(student_t_cdf(t, 4.0), 1.0);
            assert_eq!(student_t_cdf(-t, 4.0), 0.0);
        }
    }

    #[test]
    fn clopper_pearson_matches_published_values() {
        // scipy.stats.binomtest(k, n).proportion_ci(method="exact")
        let [lo, hi] = clopper_pearson(7, 10, 0.05);
        assert!(
            (lo - 0.347_547_5).abs() < 1e-6 && (hi - 0.933_260_3).abs() < 1e-6,
            "{lo} {hi}"
        );
        let [lo, hi] = clopper_pearson(0, 20, 0.05);
        assert!(lo == 0.0 && (hi - 0.168_433_8).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn t_quantiles_match_tables() {
        assert!((student_t_quantile(0.975, 4.0) - 2.776_445).abs() < 1e-5);
        assert!((student_t_quantile(0.975, 1.0) - 12.706_205).abs() < 1e-4);
        assert!((student_t_quantile(0.5, 9.0)).abs() < 1e-9);
    }
}
