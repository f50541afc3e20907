//! Parameters and log-likelihoods of the published fits, to 4 significant digits and
//! 0.01 in log-likelihood (reference: data/reference/clv/lifetimes_0.11.3_params.json).

use rapport_models::CountModel;
use rapport_models::bgbb::BgBb;
use rapport_models::bgnbd::BgNbd;
use rapport_models::gamma_gamma::GammaGamma;
use rapport_models::pareto::ParetoNbd;

use crate::{cdnow_counts, cdnow_spend, donations, same_significant};

fn check(names: &[&str], got: &[f64], expected: &[f64]) {
    for ((name, got), expected) in names.iter().zip(got).zip(expected) {
        assert!(same_significant(*got, *expected, 4), "{name}: {got} vs {expected}");
    }
}

/// Fader, Hardie & Lee (2005) "Counting your customers the easy way", CDNOW 2,357
/// customers: r = 0.2426, α = 4.4135, a = 0.7929, b = 2.4258, LL = −9582.43.
#[test]
fn bg_nbd_params_match_fader_hardie_lee_2005_table() {
    let fitted = BgNbd::new().fit(&cdnow_counts()).expect("fit");
    let p = fitted.params;
    check(&["r", "alpha", "a", "b"], &[p.r, p.alpha, p.a, p.b], &[0.2426, 4.4135, 0.7929, 2.4258]);
    assert!((fitted.report.log_likelihood - -9582.4256).abs() < 0.01, "{}", fitted.report.log_likelihood);
    assert!(fitted.report.converged);
    assert!(fitted.report.std_errors.iter().all(|error| error.is_finite() && *error > 0.0));
    let report = fitted.report();
    for (value, (low, high)) in report.params.iter().zip(&report.intervals) {
        assert!(low < value && value < high);
    }
}

/// Pareto/NBD on CDNOW (Fader, Hardie & Lee 2005; FH note 008): r = 0.5533, α = 10.578,
/// s = 0.6062, β = 11.667 (polished MLE 11.6679), LL = −9594.97.
#[test]
fn pareto_nbd_params_match_fader_hardie_2005() {
    let fitted = ParetoNbd.fit(&cdnow_counts()).expect("fit");
    let p = fitted.params;
    check(&["r", "alpha", "s"], &[p.r, p.alpha, p.s], &[0.5533, 10.58, 0.6062]);
    assert!(same_significant(p.beta, 11.668, 4) || same_significant(p.beta, 11.667, 4), "beta {}", p.beta);
    assert!((fitted.report.log_likelihood - -9594.9739).abs() < 0.01, "{}", fitted.report.log_likelihood);
}

/// MBG/NBD on CDNOW: lifetimes 0.11.3 (polished MLE r = 0.5248, α = 6.1830, a = 0.8914,
/// b = 1.6140), LL = −9582.13.
#[test]
fn mbg_nbd_params_match_lifetimes_0_11_3() {
    let fitted = BgNbd::modified().fit(&cdnow_counts()).expect("fit");
    let p = fitted.params;
    check(&["r", "alpha", "a", "b"], &[p.r, p.alpha, p.a, p.b], &[0.5248, 6.183, 0.8914, 1.614]);
    assert!((fitted.report.log_likelihood - -9582.1327).abs() < 0.01, "{}", fitted.report.log_likelihood);
}

/// Gamma-Gamma on the 946 CDNOW repeat buyers (FHL 2005 "RFM and CLV"): p = 6.2488,
/// q = 3.7446, v = 15.4477, LL = −4055.92 (zbar of the rounded summary file).
#[test]
fn gamma_gamma_params_match_fader_hardie_lee_2005() {
    let data = cdnow_spend();
    assert_eq!(data.customers(), 946.0);
    let fitted = GammaGamma.fit(&data).expect("fit");
    let p = fitted.params;
    check(&["p", "q", "v"], &[p.p, p.q, p.v], &[6.2488, 3.7446, 15.4477]);
    assert!((fitted.report.log_likelihood - -4055.9232).abs() < 0.01, "{}", fitted.report.log_likelihood);
}

/// BG/BB on the donations data (Fader, Hardie & Shang 2010; lifetimes' tests):
/// α = 1.204, β = 0.750, γ = 0.657, δ = 2.783, LL = −33225.58.
#[test]
fn bg_bb_params_match_fader_hardie_shang_2010() {
    let fitted = BgBb.fit(&donations()).expect("fit");
    let p = fitted.params;
    let reference = crate::lifetimes_values::reference_param("BG/BB");
    check(&["alpha", "beta", "gamma", "delta"], &[p.alpha, p.beta, p.gamma, p.delta], &reference);
    assert!((fitted.report.log_likelihood - -33225.5813).abs() < 0.01, "{}", fitted.report.log_likelihood);
}
