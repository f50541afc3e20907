//! BG/BB for discrete purchase opportunities (Fader, Hardie & Shang 2010, "Customer-base
//! analysis in a discrete-time noncontractual setting", Marketing Science 29(6)).
//!
//! At each opportunity an alive customer transacts with probability p ~ Beta(α, β) and
//! drops out with probability θ ~ Beta(γ, δ).

use rapport_stats::special::{ln_beta, ln_gamma, log_add_exp};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::data::DiscreteData;
use crate::fit::{FitOptions, FitReport, LogLikelihood, fit_report};

const NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// An unfitted BG/BB model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BgBb;

/// Parameters of the BG/BB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBbParams {
    /// Transaction-probability beta, α.
    pub alpha: f64,
    /// Transaction-probability beta, β.
    pub beta: f64,
    /// Dropout-probability beta, γ.
    pub gamma: f64,
    /// Dropout-probability beta, δ.
    pub delta: f64,
}

/// A fitted BG/BB model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedBgBb {
    /// The parameters.
    pub params: BgBbParams,
    /// How they were fitted.
    pub report: FitReport,
}

struct Likelihood<'a> {
    data: &'a DiscreteData,
}

/// ln L(α, β, γ, δ | x, t_x, n): FHS (2010) eq. (5).
fn ln_likelihood(params: &BgBbParams, x: f64, t_x: f64, n: f64) -> f64 {
    let BgBbParams { alpha, beta, gamma, delta } = *params;
    let base_p = ln_beta(alpha, beta);
    let base_theta = ln_beta(gamma, delta);
    let mut total = ln_beta(alpha + x, beta + n - x) - base_p + ln_beta(gamma, delta + n) - base_theta;
    for i in 0..(n - t_x) as u32 {
        let i = f64::from(i);
        total = log_add_exp(total, ln_beta(alpha + x, beta + t_x - x + i) - base_p + ln_beta(gamma + 1.0, delta + t_x + i) - base_theta);
    }
    total
}

impl LogLikelihood for Likelihood<'_> {
    fn log_likelihood(&self, params: &[f64]) -> f64 {
        let params = BgBbParams { alpha: params[0], beta: params[1], gamma: params[2], delta: params[3] };
        self.data
            .rows()
            .iter()
            .map(|&(x, t_x, n, weight)| weight * ln_likelihood(&params, f64::from(x), f64::from(t_x), f64::from(n)))
            .sum()
    }

    fn customers(&self) -> f64 {
        self.data.customers()
    }
}

impl BgBb {
    /// Fit by maximum likelihood.
    pub fn fit(&self, data: &DiscreteData) -> Result<FittedBgBb, ModelError> {
        self.fit_with(data, &FitOptions::default())
    }

    /// [`Self::fit`] with options (a penalty on the log-parameters).
    pub fn fit_with(&self, data: &DiscreteData, options: &FitOptions) -> Result<FittedBgBb, ModelError> {
        let starts = [vec![1.0, 1.0, 1.0, 1.0], vec![0.5, 1.0, 0.5, 2.0]];
        let report = fit_report("bg-bb", &NAMES, &Likelihood { data }, &starts, options)?;
        let params = BgBbParams { alpha: report.params[0], beta: report.params[1], gamma: report.params[2], delta: report.params[3] };
        Ok(FittedBgBb { params, report })
    }
}

impl FittedBgBb {
    /// A model with given parameters.
    pub fn from_params(params: BgBbParams) -> Result<FittedBgBb, ModelError> {
        let report = FitReport::given("bg-bb", &NAMES, &[params.alpha, params.beta, params.gamma, params.delta])?;
        Ok(FittedBgBb { params, report })
    }

    /// Total log-likelihood of `data`.
    pub fn log_likelihood(&self, data: &DiscreteData) -> f64 {
        let p = self.params;
        Likelihood { data }.log_likelihood(&[p.alpha, p.beta, p.gamma, p.delta])
    }

    /// P(alive at opportunity n + m | x, t_x, n): FHS (2010) eq. (11) generalised as in
    /// lifetimes' `conditional_probability_alive(m_periods_in_future)`; `future = 0` is
    /// the probability of being alive after the last observed opportunity.
    pub fn p_alive(&self, future: f64, x: f64, t_x: f64, n: f64) -> f64 {
        let BgBbParams { alpha, beta, gamma, delta } = self.params;
        (ln_beta(alpha + x, beta + n - x) - ln_beta(alpha, beta) + ln_beta(gamma, delta + n + future)
            - ln_beta(gamma, delta)
            - ln_likelihood(&self.params, x, t_x, n))
        .exp()
    }

    /// E[X(n, n + n*) | x, t_x, n]: transactions in the next `future` opportunities,
    /// FHS (2010) eq. (13).
    pub fn expected_purchases(&self, future: f64, x: f64, t_x: f64, n: f64) -> f64 {
        let BgBbParams { alpha, beta, gamma, delta } = self.params;
        let ln_front = ln_beta(alpha + x + 1.0, beta + n - x) - ln_beta(alpha, beta) - ln_likelihood(&self.params, x, t_x, n);
        let ratio = delta / (gamma - 1.0) * (ln_gamma(gamma + delta) - ln_gamma(1.0 + delta)).exp();
        let bracket = (ln_gamma(1.0 + delta + n) - ln_gamma(gamma + delta + n)).exp()
            - (ln_gamma(1.0 + delta + n + future) - ln_gamma(gamma + delta + n + future)).exp();
        ln_front.exp() * ratio * bracket
    }

    /// E[X(n)]: expected transactions in the first `n` opportunities, FHS (2010) eq. (7).
    pub fn expected_purchases_unconditional(&self, n: f64) -> f64 {
        let BgBbParams { alpha, beta, gamma, delta } = self.params;
        alpha / (alpha + beta) * delta / (gamma - 1.0)
            * (1.0 - (ln_gamma(gamma + delta) - ln_gamma(gamma + delta + n) + ln_gamma(1.0 + delta + n) - ln_gamma(1.0 + delta)).exp())
    }

    /// P(X(n) = x): FHS (2010) eq. (8).
    pub fn probability_of_purchases(&self, x: u32, n: u32) -> f64 {
        let BgBbParams { alpha, beta, gamma, delta } = self.params;
        let ln_choose = |total: f64, k: f64| ln_gamma(total + 1.0) - ln_gamma(k + 1.0) - ln_gamma(total - k + 1.0);
        let (xf, nf) = (f64::from(x), f64::from(n));
        let mut total = (ln_choose(nf, xf) + ln_beta(alpha + xf, beta + nf - xf) - ln_beta(alpha, beta) + ln_beta(gamma, delta + nf)
            - ln_beta(gamma, delta))
        .exp();
        for i in x..n {
            let i = f64::from(i);
            total += (ln_choose(i, xf) + ln_beta(alpha + xf, beta + i - xf) - ln_beta(alpha, beta) + ln_beta(gamma + 1.0, delta + i)
                - ln_beta(gamma, delta))
            .exp();
        }
        total
    }
}
