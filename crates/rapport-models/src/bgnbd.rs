//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") and
//! MBG/NBD (Batislam, Denizel & Filiztekin 2007), as implemented by lifetimes 0.11.3.
//!
//! Both describe purchases while alive as Poisson(λ), λ ~ Gamma(r, α), and dropout
//! after each purchase with probability p ~ Beta(a, b); MBG/NBD also lets a customer
//! drop out at time zero.

use rapport_stats::special::{digamma, ln_beta, ln_gamma, ln_hyp2f1, ln_hyp2f1_signed, log_add_exp_with_share};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{CountData, Row};
use crate::fit::{FitOptions, FitReport, LogLikelihood, SampleEstimate, fit_report_from, parallel_sum, parallel_sum_vec};
use crate::{CountModel, ModelError};

const NAMES: [&str; 4] = ["r", "alpha", "a", "b"];

/// Which of the two models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// BG/NBD: dropout only after a repeat purchase.
    Bg,
    /// MBG/NBD: dropout also possible at time zero.
    Mbg,
}

/// An unfitted BG/NBD or MBG/NBD model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    variant: Variant,
}

impl BgNbd {
    /// BG/NBD.
    pub fn new() -> Self {
        BgNbd { variant: Variant::Bg }
    }

    /// MBG/NBD.
    pub fn modified() -> Self {
        BgNbd { variant: Variant::Mbg }
    }

    /// Fit by maximum likelihood.
    pub fn fit(&self, data: &CountData) -> Result<FittedBgNbd, ModelError> {
        self.fit_with(data, &FitOptions::default())
    }

    /// [`Self::fit`] with options (a penalty on the log-parameters).
    pub fn fit_with(&self, data: &CountData, options: &FitOptions) -> Result<FittedBgNbd, ModelError> {
        let likelihood = Likelihood::new(data, self.variant);
        let mean_t = data.mean_t().max(1e-3);
        let mut starts = vec![vec![1.0, 1.0, 1.0, 1.0], vec![0.5, mean_t / 4.0, 1.0, 2.0], vec![1.0, mean_t, 0.5, 1.0]];
        // On large data, start from the estimate on a sample of the rows.
        // Its Hessian scales the full fit, which then takes a few iterations.
        let estimate = match data.subsample(10_000) {
            Some(sample) => Some(SampleEstimate::fit(&Likelihood::new(&sample, self.variant), &starts, options)?),
            None => None,
        };
        if let Some(estimate) = &estimate {
            starts.insert(0, estimate.params().to_vec());
        }
        let report = fit_report_from(self.name(), &NAMES, &likelihood, &starts, estimate.as_ref(), options)?;
        let params = BgNbdParams { r: report.params[0], alpha: report.params[1], a: report.params[2], b: report.params[3] };
        Ok(FittedBgNbd { variant: self.variant, params, report })
    }

    fn name(&self) -> &'static str {
        match self.variant {
            Variant::Bg => "bg-nbd",
            Variant::Mbg => "mbg-nbd",
        }
    }
}

impl Default for BgNbd {
    fn default() -> Self {
        Self::new()
    }
}

/// Parameters of BG/NBD and MBG/NBD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale (in time units) of the purchase-rate gamma.
    pub alpha: f64,
    /// Dropout beta, a.
    pub a: f64,
    /// Dropout beta, b.
    pub b: f64,
}

/// A fitted BG/NBD or MBG/NBD model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedBgNbd {
    /// Which model.
    pub variant: Variant,
    /// The parameters.
    pub params: BgNbdParams,
    /// How they were fitted.
    pub report: FitReport,
}

struct Likelihood<'a> {
    data: &'a CountData,
    variant: Variant,
    /// Rows with the indices of their x (for the per-x constants) and ages.
    rows: Vec<IndexedRow>,
    /// The distinct values of T and t_x. Summaries are in whole days or weeks of days, so
    /// a million customers share a few thousand ages: ln(α + age) is computed once per
    /// age and evaluation, not twice per customer.
    ages: Vec<f64>,
}

/// A row with the indices of its x (into `distinct_x`) and of its T and t_x (into `ages`).
#[derive(Debug, Clone, Copy)]
struct IndexedRow {
    row: Row,
    x: u32,
    t: u32,
    t_x: u32,
}

impl<'a> Likelihood<'a> {
    fn new(data: &'a CountData, variant: Variant) -> Self {
        let mut index: hashbrown::HashMap<u64, u32, foldhash::fast::FixedState> = hashbrown::HashMap::default();
        let mut ages = Vec::new();
        let mut age_index = |age: f64| -> u32 {
            *index.entry(age.to_bits()).or_insert_with(|| {
                ages.push(age);
                (ages.len() - 1) as u32
            })
        };
        let rows = data
            .rows()
            .iter()
            .zip(data.x_index())
            .map(|(row, &x)| IndexedRow { row: *row, x, t: age_index(row.t), t_x: age_index(row.t_x) })
            .collect();
        Likelihood { data, variant, rows, ages }
    }

    /// ln(α + age) for every distinct age.
    fn ln_alpha_ages(&self, alpha: f64) -> Vec<f64> {
        self.ages.par_iter().with_min_len(4096).map(|age| (alpha + age).ln()).collect()
    }
}

/// Terms of the likelihood that depend on x alone, computed once per distinct x.
#[derive(Debug, Clone, Copy)]
struct PerX {
    /// ln Γ(r+x) − ln Γ(r) + ln Γ(a+b) + ln Γ(b+x[+1]) − ln Γ(b) − ln Γ(a+b+x[+1]) + r ln α
    constant: f64,
    /// ln a − ln(b + x − 1 [+1]), or −∞ when there is no dropout term.
    ln_odds_base: f64,
    /// ψ(r+x) − ψ(r)
    d_r: f64,
    /// ψ(a+b) − ψ(a+b+x[+1])
    d_ab: f64,
    /// ψ(b+x[+1]) − ψ(b)
    d_b: f64,
    /// 1 / (b + x − 1 [+1])
    inverse_denominator: f64,
}

fn per_x(x: f64, params: &BgNbdParams, variant: Variant, with_gradient: bool) -> PerX {
    let BgNbdParams { r, alpha, a, b } = *params;
    let shift = if variant == Variant::Mbg { 1.0 } else { 0.0 };
    let has_a4 = variant == Variant::Mbg || x > 0.0;
    let denominator = b + x - 1.0 + shift;
    let constant = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x + shift)
        - ln_gamma(b)
        - ln_gamma(a + b + x + shift);
    let (d_r, d_ab, d_b) = if with_gradient {
        (digamma(r + x) - digamma(r), digamma(a + b) - digamma(a + b + x + shift), digamma(b + x + shift) - digamma(b))
    } else {
        (0.0, 0.0, 0.0)
    };
    PerX {
        constant,
        ln_odds_base: if has_a4 { a.ln() - denominator.ln() } else { f64::NEG_INFINITY },
        d_r,
        d_ab,
        d_b,
        inverse_denominator: if has_a4 { 1.0 / denominator } else { 0.0 },
    }
}

/// ln of the individual likelihood (times its weight) and its gradient in (r, α, a, b):
/// lifetimes' `_negative_log_likelihood` terms A₁…A₄ (FHL 2005 eq. 6; Batislam et al.
/// 2007), with the x-only terms taken from `constants`.
fn row_terms(row: &Row, constants: &PerX, params: &BgNbdParams, ln_alpha: (f64, f64), with_gradient: bool) -> (f64, [f64; 4]) {
    let BgNbdParams { r, alpha, a, .. } = *params;
    let Row { x, t_x, t, weight } = *row;
    // ln(α + T) and ln(α + t_x), looked up per distinct age.
    let (ln_alpha_t, ln_alpha_t_x) = ln_alpha;
    let a3 = -(r + x) * ln_alpha_t;
    let has_a4 = constants.ln_odds_base > f64::NEG_INFINITY;
    let a4 = if has_a4 { constants.ln_odds_base - (r + x) * ln_alpha_t_x } else { f64::NEG_INFINITY };
    let (tail, w3) = log_add_exp_with_share(a3, a4);
    let value = weight * (constants.constant + tail);
    if !with_gradient {
        return (value, [0.0; 4]);
    }
    let w4 = if has_a4 { 1.0 - w3 } else { 0.0 };
    let d_r = constants.d_r + alpha.ln() - w3 * ln_alpha_t - w4 * ln_alpha_t_x;
    let d_alpha = r / alpha - w3 * (r + x) / (alpha + t) - w4 * (r + x) / (alpha + t_x);
    let d_a = constants.d_ab + w4 / a;
    let d_b = constants.d_ab + constants.d_b - w4 * constants.inverse_denominator;
    (value, [weight * d_r, weight * d_alpha, weight * d_a, weight * d_b])
}

impl Likelihood<'_> {
    fn constants(&self, params: &BgNbdParams, with_gradient: bool) -> Vec<PerX> {
        self.data.distinct_x().iter().map(|&x| per_x(x, params, self.variant, with_gradient)).collect()
    }
}

impl LogLikelihood for Likelihood<'_> {
    fn log_likelihood(&self, params: &[f64]) -> f64 {
        let params = BgNbdParams { r: params[0], alpha: params[1], a: params[2], b: params[3] };
        let constants = self.constants(&params, false);
        let ln_alpha = self.ln_alpha_ages(params.alpha);
        parallel_sum(&self.rows, |row| {
            row_terms(&row.row, &constants[row.x as usize], &params, (ln_alpha[row.t as usize], ln_alpha[row.t_x as usize]), false).0
        })
    }

    fn gradient(&self, params: &[f64]) -> Option<Vec<f64>> {
        self.value_and_gradient(params).map(|(_, gradient)| gradient)
    }

    fn value_and_gradient(&self, params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let params = BgNbdParams { r: params[0], alpha: params[1], a: params[2], b: params[3] };
        let constants = self.constants(&params, true);
        let ln_alpha = self.ln_alpha_ages(params.alpha);
        let sums = parallel_sum_vec(&self.rows, |row| {
            let ln_ages = (ln_alpha[row.t as usize], ln_alpha[row.t_x as usize]);
            let (value, gradient) = row_terms(&row.row, &constants[row.x as usize], &params, ln_ages, true);
            [value, gradient[0], gradient[1], gradient[2], gradient[3]]
        });
        Some((sums[0], sums[1..].to_vec()))
    }

    fn customers(&self) -> f64 {
        self.data.customers()
    }
}

impl FittedBgNbd {
    /// A model with given parameters (e.g. published ones), for prediction.
    pub fn from_params(variant: Variant, params: BgNbdParams) -> Result<FittedBgNbd, ModelError> {
        let report = FitReport::given(BgNbd { variant }.name(), &NAMES, &[params.r, params.alpha, params.a, params.b])?;
        Ok(FittedBgNbd { variant, params, report })
    }

    /// Total log-likelihood of `data` under these parameters.
    pub fn log_likelihood(&self, data: &CountData) -> f64 {
        Likelihood::new(data, self.variant).log_likelihood(&[self.params.r, self.params.alpha, self.params.a, self.params.b])
    }

    fn shift(&self) -> f64 {
        if self.variant == Variant::Mbg { 1.0 } else { 0.0 }
    }

    /// ln of the odds term a/(b + x − 1 [+1]) · ((α + T)/(α + t_x))^{r+x}.
    fn ln_odds(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = self.params;
        a.ln() - (b + x - 1.0 + self.shift()).ln() + (r + x) * ((t - t_x) / (alpha + t_x)).ln_1p()
    }
}

impl CountModel for FittedBgNbd {
    fn report(&self) -> &FitReport {
        &self.report
    }

    /// P(alive | x, t_x, T): FHL (2008) note "Computing P(alive) using the BG/NBD
    /// model", eq. (3); for MBG/NBD, Batislam et al. (2007) eq. (12).
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if self.variant == Variant::Bg && x == 0.0 {
            return 1.0;
        }
        let ln_odds = self.ln_odds(x, t_x, t);
        // 1 / (1 + e^{ln_odds}) without overflow.
        if ln_odds > 0.0 { (-ln_odds).exp() / (1.0 + (-ln_odds).exp()) } else { 1.0 / (1.0 + ln_odds.exp()) }
    }

    /// E[Y(t) | x, t_x, T]: FHL (2005) eq. (10); MBG/NBD: Batislam et al. (2007) eq. (13).
    fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let BgNbdParams { r, alpha, a, b } = self.params;
        let shift = self.shift();
        let z = horizon / (alpha + t + horizon);
        let c = a + b + x - 1.0 + shift;
        let denominator = if self.variant == Variant::Bg && x == 0.0 { 1.0 } else { 1.0 + self.ln_odds(x, t_x, t).exp() };
        let ln_q = -(r + x) * (horizon / (alpha + t)).ln_1p();
        if (a - 1.0).abs() < 1e-6 {
            // c/(a − 1) · (1 − ₂F₁·q) is 0/0 at a = 1 (then c equals ₂F₁'s b and ₂F₁·q = 1);
            // its limit is −c · ∂ln ₂F₁/∂c, corrected to first order in the exponent L
            // = ln(₂F₁·q) ≈ (a − 1)·∂ln ₂F₁/∂c. A penalty settles a there when the data
            // say nothing about it.
            // ∂/∂c by a central difference (the series' own c-derivative divides by the
            // Euler transform's zero parameter here); its error, O(h²), is ~1e-10.
            let h = 1e-5 * c.max(1.0);
            let ln_f = |c: f64| ln_hyp2f1(r + x, b + x + shift, c, z);
            let (Some(ln_hyp), Some(up), Some(down)) = (ln_f(c), ln_f(c + h), ln_f(c - h)) else {
                return f64::NAN;
            };
            let d_c = (up - down) / (2.0 * h);
            let exponent = ln_hyp + ln_q;
            let ratio = if exponent == 0.0 { 1.0 } else { exponent.exp_m1() / exponent };
            return -c * d_c * ratio / denominator;
        }
        // c = a + b + x − 1 is negative for x = 0 when a + b < 1: ₂F₁ is then still
        // defined, and may be negative.
        let Some((ln_hyp, sign)) = ln_hyp2f1_signed(r + x, b + x + shift, c, z) else {
            return f64::NAN;
        };
        let first = c / (a - 1.0);
        // 1 − ₂F₁ · ((α+T)/(α+T+t))^{r+x}, with the product formed in log space.
        let second = if sign > 0.0 { -(ln_hyp + ln_q).exp_m1() } else { 1.0 + (ln_hyp + ln_q).exp() };
        first * second / denominator
    }

    /// E[X(t)]: FHL (2005) eq. (9); MBG/NBD: lifetimes' `expected_number_of_purchases_up_to_time`.
    fn expected_purchases_unconditional(&self, horizon: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = self.params;
        let z = horizon / (alpha + horizon);
        let scale = (-r * (horizon / alpha).ln_1p()).exp();
        match self.variant {
            Variant::Bg => {
                let hyp = ln_hyp2f1_signed(r, b, a + b - 1.0, z).map_or(f64::NAN, |(value, sign)| sign * value.exp());
                (a + b - 1.0) / (a - 1.0) * (1.0 - scale * hyp)
            }
            Variant::Mbg => b / (a - 1.0) * (1.0 - scale * ln_hyp2f1(r, b + 1.0, a + b, z).map_or(f64::NAN, f64::exp)),
        }
    }

    /// P(X(t) = n): FHL (2005) eq. (8); MBG/NBD: lifetimes' `probability_of_n_purchases_up_to_time`.
    fn probability_of_purchases(&self, n: u32, horizon: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = self.params;
        let n = f64::from(n);
        let shift = self.shift();
        let ln_p = -(horizon / alpha).ln_1p();
        let ln_q = if horizon > 0.0 { horizon.ln() - (alpha + horizon).ln() } else { f64::NEG_INFINITY };
        let ln_nbd = |j: f64| ln_gamma(r + j) - ln_gamma(r) - ln_gamma(j + 1.0) + r * ln_p + if j > 0.0 { j * ln_q } else { 0.0 };
        let first = (ln_beta(a, b + n + shift) - ln_beta(a, b) + ln_nbd(n)).exp();
        let second = if n > 0.0 || shift > 0.0 {
            let partial: f64 = (0..n as u32).map(|j| ln_nbd(f64::from(j)).exp()).sum();
            (ln_beta(a + 1.0, b + n - 1.0 + shift) - ln_beta(a, b)).exp() * (1.0 - partial)
        } else {
            0.0
        };
        first + second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a + b < 1, ₂F₁'s c is negative for x = 0 (a random summary found it): the
    /// expectation is still finite, positive, and continuous in a.
    #[test]
    fn expected_purchases_with_a_plus_b_below_one() {
        let at = |a: f64| {
            FittedBgNbd::from_params(Variant::Bg, BgNbdParams { r: 0.083, alpha: 1.3e-5, a, b: 0.49 })
                .expect("model")
                .expected_purchases(1.0, 0.0, 0.0, 1.0)
        };
        let value = at(0.0753);
        // lifetimes 0.11.3 (scipy's hyp2f1): 0.0788084549601375.
        assert!((value - 0.0788084549601375).abs() < 1e-9 * value, "{value}");
        assert!((at(0.0753 * (1.0 + 1e-7)) - value).abs() < 1e-5 * value);
    }

    /// E[Y(t) | x, t_x, T] is continuous through a = 1, where its formula is 0/0.
    #[test]
    fn expected_purchases_through_a_equal_to_one() {
        for variant in [Variant::Bg, Variant::Mbg] {
            let at = |a: f64| {
                let model = FittedBgNbd::from_params(variant, BgNbdParams { r: 0.24, alpha: 4.4, a, b: 2.4 }).expect("model");
                [(0.0, 0.0, 38.0), (3.0, 20.0, 38.0)].map(|(x, t_x, t)| model.expected_purchases(39.0, x, t_x, t))
            };
            let (below, exact, above) = (at(1.0 - 1e-4), at(1.0), at(1.0 + 1e-4));
            if variant == Variant::Bg {
                // lifetimes 0.11.3 at a = 1 + 10⁻⁴, x = 3, t_x = 20, T = 38: 0.989140729313738.
                assert!((above[1] - 0.989140729313738).abs() < 1e-9, "{}", above[1]);
            }
            for index in 0..2 {
                assert!(exact[index].is_finite() && exact[index] > 0.0, "{variant:?} {exact:?}");
                let between = 0.5 * (below[index] + above[index]);
                assert!((exact[index] - between).abs() < 1e-6 * between, "{variant:?}: {} vs {between}", exact[index]);
            }
        }
    }
}
