//! Invariants: probabilities in [0, 1], P(X(t) = n) sums to 1, weights equal duplicated
//! rows, rescaling time leaves predictions unchanged, no NaN for edge cases, parameter
//! recovery from simulated data.

use proptest::prelude::*;

use rapport_models::CountModel;
use rapport_models::bgbb::{BgBbParams, FittedBgBb};
use rapport_models::bgnbd::{BgNbd, BgNbdParams, FittedBgNbd, Variant};
use rapport_models::data::{CountData, Row};

use crate::{Customer, count_data};
use rapport_models::pareto::{FittedParetoNbd, ParetoNbd, ParetoNbdParams};

fn count_models(r: f64, alpha: f64, a: f64, b: f64) -> Vec<Box<dyn CountModel>> {
    vec![
        Box::new(FittedBgNbd::from_params(Variant::Bg, BgNbdParams { r, alpha, a, b }).expect("params")),
        Box::new(FittedBgNbd::from_params(Variant::Mbg, BgNbdParams { r, alpha, a, b }).expect("params")),
        Box::new(FittedParetoNbd::from_params(ParetoNbdParams { r, alpha, s: a, beta: b * alpha }).expect("params")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn probabilities_are_probabilities_and_sum_to_one(
        r in 0.1f64..3.0, alpha in 0.5f64..20.0, a in 1.2f64..4.0, b in 0.5f64..5.0,
        x in 0u32..60, t_fraction in 0.0f64..1.0, t in 0.0f64..100.0, horizon in 0.5f64..60.0,
    ) {
        let t_x = if x == 0 { 0.0 } else { t * t_fraction };
        for model in count_models(r, alpha, a, b) {
            let name = model.report().model.clone();
            let alive = model.p_alive(f64::from(x), t_x, t);
            prop_assert!((0.0..=1.0).contains(&alive), "{name}: P(alive) = {alive}");
            let expected = model.expected_purchases(horizon, f64::from(x), t_x, t);
            prop_assert!(expected.is_finite() && expected >= 0.0, "{name}: E = {expected}");
            let mut total = 0.0;
            let mut mean = 0.0;
            let mut last = 0.0;
            for n in 0..400 {
                let probability = model.probability_of_purchases(n, horizon);
                prop_assert!((-1e-12..=1.0 + 1e-12).contains(&probability), "{name}: P(X={n}) = {probability}");
                total += probability;
                mean += f64::from(n) * probability;
                last = probability;
            }
            prop_assert!(total <= 1.0 + 1e-9, "{name}: Σ P = {total}");
            // The tail beyond n = 399 decays at least as fast as the NBD's ratio
            // t/(α + t); only when its bound is negligible must the sum reach 1.
            let tail_bound = last * (alpha + horizon) / alpha * 10.0;
            prop_assert!(tail_bound > 1e-7 || (total - 1.0).abs() < 1e-6, "{name}: Σ P = {total}");
            if (total - 1.0).abs() < 1e-9 {
                let unconditional = model.expected_purchases_unconditional(horizon);
                prop_assert!((mean - unconditional).abs() < 1e-6 * unconditional.max(1.0), "{name}: Σ n P = {mean} vs E[X(t)] = {unconditional}");
            }
        }
    }

    #[test]
    fn rescaling_time_rescales_alpha_and_keeps_predictions(x in 1u32..30, t in 1.0f64..80.0, fraction in 0.0f64..=1.0, scale in 0.1f64..10.0) {
        let (r, alpha, a, b) = (0.24, 4.4, 0.79, 2.4);
        let t_x = t * fraction;
        let base = count_models(r, alpha, a, b);
        let scaled = count_models(r, alpha * scale, a, b);
        for (base, scaled) in base.iter().zip(&scaled) {
            let x = f64::from(x);
            prop_assert!((base.p_alive(x, t_x, t) - scaled.p_alive(x, t_x * scale, t * scale)).abs() < 1e-9);
            let (one, other) = (base.expected_purchases(10.0, x, t_x, t), scaled.expected_purchases(10.0 * scale, x, t_x * scale, t * scale));
            prop_assert!((one - other).abs() < 1e-8 * one.max(1.0), "{one} vs {other}");
        }
    }
}

/// No NaN or infinity at the edges: t_x = T, x = 0, T = 0, x in the thousands, α ≈ β.
#[test]
fn edge_cases_are_finite() {
    let cases = [(0.0, 0.0, 0.0), (0.0, 0.0, 30.0), (5.0, 30.0, 30.0), (3000.0, 29.0, 30.0), (3000.0, 30.0, 30.0), (1.0, 1e-9, 30.0)];
    for (r, alpha, a, b) in [(0.24, 4.4, 0.79, 2.4), (0.55, 10.58, 0.61, 1.103), (2.0, 10.0, 2.0, 1.0)] {
        for model in count_models(r, alpha, a, b) {
            for (x, t_x, t) in cases {
                let name = &model.report().model;
                let alive = model.p_alive(x, t_x, t);
                let expected = model.expected_purchases(52.0, x, t_x, t);
                assert!(alive.is_finite() && (0.0..=1.0).contains(&alive), "{name} P(alive) at {x},{t_x},{t}: {alive}");
                assert!(expected.is_finite() && expected >= 0.0, "{name} E at {x},{t_x},{t}: {expected}");
            }
        }
    }
    // α = β exactly for the Pareto/NBD (the ₂F₁ argument is 0).
    let pareto = FittedParetoNbd::from_params(ParetoNbdParams { r: 0.5, alpha: 10.0, s: 0.6, beta: 10.0 }).expect("params");
    assert!(pareto.p_alive(3.0, 20.0, 30.0).is_finite());
    let data =
        count_data(&[Customer { id: "a".into(), x: 3.0, t_x: 30.0, t: 30.0 }, Customer { id: "b".into(), x: 0.0, t_x: 0.0, t: 0.0 }])
            .expect("valid");
    assert!(pareto.log_likelihood(&data).is_finite());
}

/// Fitting on weighted unique rows equals fitting on duplicated rows.
#[test]
fn weights_equal_duplicated_rows() {
    let rows = vec![
        Row { x: 0.0, t_x: 0.0, t: 30.0, weight: 3.0 },
        Row { x: 2.0, t_x: 20.0, t: 30.0, weight: 2.0 },
        Row { x: 5.0, t_x: 28.0, t: 35.0, weight: 1.0 },
    ];
    let weighted = CountData::from_rows(rows.clone()).expect("valid");
    let duplicated =
        CountData::from_rows(rows.iter().flat_map(|row| std::iter::repeat_n(Row { weight: 1.0, ..*row }, row.weight as usize)).collect())
            .expect("valid");
    let model = FittedBgNbd::from_params(Variant::Bg, BgNbdParams { r: 0.3, alpha: 4.0, a: 0.8, b: 2.0 }).expect("params");
    assert!((model.log_likelihood(&weighted) - model.log_likelihood(&duplicated)).abs() < 1e-9);
    let pareto = FittedParetoNbd::from_params(ParetoNbdParams { r: 0.5, alpha: 10.0, s: 0.6, beta: 11.0 }).expect("params");
    assert!((pareto.log_likelihood(&weighted) - pareto.log_likelihood(&duplicated)).abs() < 1e-9);
}

/// BG/BB: P(X(n) = x) sums to 1 over x, and P(alive) is a probability.
#[test]
fn bg_bb_probabilities() {
    let model = FittedBgBb::from_params(BgBbParams { alpha: 1.2, beta: 0.75, gamma: 0.66, delta: 2.78 }).expect("params");
    for n in [1, 6, 20] {
        let total: f64 = (0..=n).map(|x| model.probability_of_purchases(x, n)).sum();
        assert!((total - 1.0).abs() < 1e-10, "n = {n}: {total}");
        let mean: f64 = (0..=n).map(|x| f64::from(x) * model.probability_of_purchases(x, n)).sum();
        assert!((mean - model.expected_purchases_unconditional(f64::from(n))).abs() < 1e-9);
    }
}

/// A small deterministic generator (SplitMix64), so the simulation needs no dependency.
struct Random(u64);
impl Random {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.next()).ln() / rate
    }
    /// Gamma(shape, 1) by Marsaglia & Tsang (with the shape < 1 boost).
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.next().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let (u1, u2) = (self.next(), self.next());
            let normal = (-2.0 * u1.max(1e-300).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let v = (1.0 + c * normal).powi(3);
            if v > 0.0 && self.next().ln() < 0.5 * normal * normal + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }
}

/// Simulate BG/NBD customers observed for T = 52 and recover the parameters.
#[test]
fn bg_nbd_recovers_simulated_parameters() {
    let (r, alpha, a, b) = (0.5, 5.0, 0.8, 2.5);
    let mut random = Random(7);
    let customers: Vec<Customer> = (0..20_000)
        .map(|index| {
            let lambda = random.gamma(r) / alpha;
            let p = random.beta(a, b);
            let t = 52.0;
            let (mut time, mut x, mut t_x) = (0.0, 0.0, 0.0);
            loop {
                time += random.exponential(lambda);
                if time > t {
                    break;
                }
                x += 1.0;
                t_x = time;
                if random.next() < p {
                    break;
                }
            }
            Customer { id: index.to_string(), x, t_x, t }
        })
        .collect();
    let fitted = BgNbd::new().fit(&count_data(&customers).expect("valid")).expect("fit");
    let p = fitted.params;
    for (name, got, truth, error) in [
        ("r", p.r, r, fitted.report.std_errors[0]),
        ("alpha", p.alpha, alpha, fitted.report.std_errors[1]),
        ("a", p.a, a, fitted.report.std_errors[2]),
        ("b", p.b, b, fitted.report.std_errors[3]),
    ] {
        assert!((got - truth).abs() < 4.0 * error, "{name}: {got} ± {error} vs {truth}");
    }
}

/// Simulate Pareto/NBD customers and recover the parameters.
#[test]
fn pareto_nbd_recovers_simulated_parameters() {
    let (r, alpha, s, beta) = (0.6, 8.0, 0.8, 12.0);
    let mut random = Random(11);
    let customers: Vec<Customer> = (0..10_000)
        .map(|index| {
            let lambda = random.gamma(r) / alpha;
            let mu = random.gamma(s) / beta;
            let t = 26.0 + 26.0 * random.next();
            let death = random.exponential(mu).min(t);
            let (mut time, mut x, mut t_x) = (0.0, 0.0, 0.0);
            loop {
                time += random.exponential(lambda);
                if time > death {
                    break;
                }
                x += 1.0;
                t_x = time;
            }
            Customer { id: index.to_string(), x, t_x, t }
        })
        .collect();
    let fitted = ParetoNbd.fit(&count_data(&customers).expect("valid")).expect("fit");
    let p = fitted.params;
    for (name, got, truth, error) in [
        ("r", p.r, r, fitted.report.std_errors[0]),
        ("alpha", p.alpha, alpha, fitted.report.std_errors[1]),
        ("s", p.s, s, fitted.report.std_errors[2]),
        ("beta", p.beta, beta, fitted.report.std_errors[3]),
    ] {
        assert!((got - truth).abs() < 4.0 * error, "{name}: {got} ± {error} vs {truth}");
    }
}

/// A random valid summary: one to forty customers, frequencies from 0 to thousands, t_x
/// anywhere in [0, T] (T itself included), T from 10⁻³ to 10³ time units.
fn summaries() -> impl Strategy<Value = Vec<(f64, f64, f64)>> {
    let customer = (0u32..4, 0u32..3000, 0.0f64..=1.0, -3.0f64..3.0, any::<bool>()).prop_map(|(kind, many, share, log_t, at_end)| {
        let t = 10f64.powf(log_t);
        let x = match kind {
            0 => 0.0,
            1 => f64::from(many % 5),
            2 => f64::from(many),
            _ => 1.0,
        };
        let t_x = if x == 0.0 {
            0.0
        } else if at_end {
            t
        } else {
            t * share
        };
        (x, t_x, t)
    });
    prop::collection::vec(customer, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every fit terminates with a finite log-likelihood; a converged fit's
    /// unidentified parameters are named and carry no standard error; predictions are
    /// finite wherever every parameter is identified.
    #[test]
    fn fits_terminate_honestly_on_any_valid_summary(rows in summaries(), zero in any::<bool>()) {
        let rows: Vec<(f64, f64, f64)> = if zero { rows.iter().map(|&(_, _, t)| (0.0, 0.0, t)).collect() } else { rows };
        let ids: Vec<String> = (0..rows.len()).map(|index| index.to_string()).collect();
        let data = CountData::from_customers(ids.iter().zip(&rows).map(|(id, &(x, t_x, t))| (id.as_str(), x, t_x, t))).expect("valid");
        let fits: Vec<(rapport_models::FitReport, Box<dyn CountModel>)> = vec![
            { let fitted = BgNbd::new().fit(&data).expect("bg/nbd"); (fitted.report.clone(), Box::new(fitted)) },
            { let fitted = BgNbd::modified().fit(&data).expect("mbg/nbd"); (fitted.report.clone(), Box::new(fitted)) },
            { let fitted = ParetoNbd.fit(&data).expect("pareto/nbd"); (fitted.report.clone(), Box::new(fitted)) },
        ];
        for (report, model) in &fits {
            prop_assert!(report.log_likelihood.is_finite(), "{report:?}");
            for (index, name) in report.names.iter().enumerate() {
                let named = report.not_identified.iter().any(|entry| entry.split(' ').next() == Some(name));
                prop_assert!(!named || report.std_errors[index].is_nan(), "{report:?}");
                prop_assert!(report.std_errors[index].is_nan() || report.std_errors[index] > 0.0, "{report:?}");
            }
            if report.not_identified.is_empty() {
                for &(x, t_x, t) in &rows {
                    let (alive, expected) = (model.p_alive(x, t_x, t), model.expected_purchases(t, x, t_x, t));
                    prop_assert!(alive.is_finite() && expected.is_finite(), "{report:?} at {x} {t_x} {t}: {alive} {expected}");
                }
            }
        }
    }
}

/// Proptest's shrunk case from a CI run: an MBG/NBD fit of seven customers runs r and α
/// off together (r ≈ 6.3·10⁹, α ≈ 4.3·10⁸, the Poisson limit) and converges. Its
/// expectations summed ₂F₁'s Euler form, whose terms cancel there, and came out NaN for
/// customers with no repeat purchase; P(alive) is ~10⁻²⁰⁵ for them, and so must E be.
#[test]
fn mbg_nbd_at_the_poisson_limit_predicts_finite_values() {
    let rows = [
        (0.0, 0.0, 32.272_008_838_280_88),
        (0.0, 0.0, 52.955_930_180_937_685),
        (0.0, 0.0, 0.002_306_696_357_207_365),
        (0.0, 0.0, 275.312_390_240_679_75),
        (0.0, 0.0, 1.0),
        (422.0, 28.780_281_564_565_392, 47.284_148_221_183_03),
        (1.0, 0.002_378_995_019_468_078_7, 0.002_378_995_019_468_078_7),
    ];
    let ids: Vec<String> = (0..rows.len()).map(|index| index.to_string()).collect();
    let data = CountData::from_customers(ids.iter().zip(&rows).map(|(id, &(x, t_x, t))| (id.as_str(), x, t_x, t))).expect("valid");
    let fitted = BgNbd::modified().fit(&data).expect("mbg/nbd");
    assert!(fitted.report.params[0] > 1e8, "the fit this guards ran r to the Poisson limit: {:?}", fitted.report);
    for &(x, t_x, t) in &rows {
        let (alive, expected) = (fitted.p_alive(x, t_x, t), fitted.expected_purchases(t, x, t_x, t));
        assert!(alive.is_finite() && expected.is_finite() && expected >= 0.0, "{x} {t_x} {t}: {alive} {expected}");
        // E[Y(t) | alive] is at most the Poisson rate r/α times t, give or take; E is P(alive) times that.
        let rate = fitted.report.params[0] / fitted.report.params[1];
        assert!(expected <= alive * rate * t * 1.5 + 1e-300, "{x} {t_x} {t}: E = {expected}, P(alive) = {alive}");
    }
}
