//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using iso-value
//! curves for customer base analysis", and Fader & Hardie's note "The Gamma-Gamma
//! model of monetary value", 2013).
//!
//! A customer's transaction values are Gamma(p, ν), ν ~ Gamma(q, γ); lifetimes names γ `v`.

use rapport_stats::special::{digamma, ln_gamma};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::data::SpendData;
use crate::fit::{FitOptions, FitReport, LogLikelihood, fit_report};

const NAMES: [&str; 3] = ["p", "q", "v"];

/// An unfitted Gamma-Gamma model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GammaGamma;

/// Parameters of the Gamma-Gamma model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of a customer's spend distribution.
    pub p: f64,
    /// Shape of the heterogeneity in scale.
    pub q: f64,
    /// Scale of the heterogeneity (γ in the note).
    pub v: f64,
}

/// A fitted Gamma-Gamma model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedGammaGamma {
    /// The parameters.
    pub params: GammaGammaParams,
    /// How they were fitted.
    pub report: FitReport,
}

/// The spend data arranged for fast evaluation: customers grouped by frequency x, so
/// that the Γ and ψ functions of p·x are computed once per distinct x (a few dozen) rather
/// than per customer, and each row's ln m̄ and ln x once per fit rather than per
/// evaluation: an evaluation then costs one logarithm per row.
struct Likelihood<'a> {
    data: &'a SpendData,
    /// (x, ln x, first row, end row) of each distinct frequency.
    groups: Vec<(f64, f64, usize, usize)>,
    /// (m̄, ln m̄, weight) in group order.
    rows: Vec<(f64, f64, f64)>,
}

impl<'a> Likelihood<'a> {
    fn new(data: &'a SpendData) -> Self {
        let mut sorted: Vec<(f64, f64, f64)> = data.rows().to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut groups = Vec::new();
        let mut start = 0;
        for index in 1..=sorted.len() {
            if index == sorted.len() || sorted[index].0 != sorted[start].0 {
                let x = sorted[start].0;
                groups.push((x, x.ln(), start, index));
                start = index;
            }
        }
        let rows = sorted.iter().map(|&(_, m, weight)| (m, m.ln(), weight)).collect();
        Likelihood { data, groups, rows }
    }
}

impl LogLikelihood for Likelihood<'_> {
    /// Σ w ln f(m̄ | x; p, q, v): the note's eq. (4), as lifetimes computes it.
    fn log_likelihood(&self, params: &[f64]) -> f64 {
        let (p, q, v) = (params[0], params[1], params[2]);
        let (ln_gamma_q, ln_v) = (ln_gamma(q), v.ln());
        let mut total = 0.0;
        for &(x, ln_x, start, end) in &self.groups {
            let px = p * x;
            let constant = ln_gamma(px + q) - ln_gamma(px) - ln_gamma_q + q * ln_v + px * ln_x;
            for &(m, ln_m, weight) in &self.rows[start..end] {
                total += weight * (constant + (px - 1.0) * ln_m - (px + q) * (x * m + v).ln());
            }
        }
        total
    }

    fn gradient(&self, params: &[f64]) -> Option<Vec<f64>> {
        let (p, q, v) = (params[0], params[1], params[2]);
        let (digamma_q, ln_v) = (digamma(q), v.ln());
        let mut gradient = vec![0.0; 3];
        for &(x, ln_x, start, end) in &self.groups {
            let px = p * x;
            let (psi_sum, psi_px) = (digamma(px + q), digamma(px));
            for &(m, ln_m, weight) in &self.rows[start..end] {
                let spread = (x * m + v).ln();
                gradient[0] += weight * x * (psi_sum - psi_px + ln_m + ln_x - spread);
                gradient[1] += weight * (psi_sum - digamma_q + ln_v - spread);
                gradient[2] += weight * (q / v - (px + q) / (x * m + v));
            }
        }
        Some(gradient)
    }

    fn customers(&self) -> f64 {
        self.data.customers()
    }
}

impl GammaGamma {
    /// Fit by maximum likelihood on repeat buyers.
    pub fn fit(&self, data: &SpendData) -> Result<FittedGammaGamma, ModelError> {
        self.fit_with(data, &FitOptions::default())
    }

    /// [`Self::fit`] with options (a penalty on the log-parameters).
    pub fn fit_with(&self, data: &SpendData, options: &FitOptions) -> Result<FittedGammaGamma, ModelError> {
        let mean = data.rows().iter().map(|&(_, m, weight)| m * weight).sum::<f64>() / data.customers();
        let starts = [vec![1.0, 1.0, 1.0], vec![2.0, 2.0, mean.max(1e-3)], vec![5.0, 3.0, mean.max(1e-3) * 2.0]];
        let report = fit_report("gamma-gamma", &NAMES, &Likelihood::new(data), &starts, options)?;
        let params = GammaGammaParams { p: report.params[0], q: report.params[1], v: report.params[2] };
        Ok(FittedGammaGamma { params, report })
    }
}

impl FittedGammaGamma {
    /// A model with given parameters.
    pub fn from_params(params: GammaGammaParams) -> Result<FittedGammaGamma, ModelError> {
        let report = FitReport::given("gamma-gamma", &NAMES, &[params.p, params.q, params.v])?;
        Ok(FittedGammaGamma { params, report })
    }

    /// Total log-likelihood of `data`.
    pub fn log_likelihood(&self, data: &SpendData) -> f64 {
        Likelihood::new(data).log_likelihood(&[self.params.p, self.params.q, self.params.v])
    }

    /// E[M | x, m̄]: the note's eq. (5), p(v + x m̄)/(p x + q − 1); for x = 0 the population
    /// mean p v/(q − 1).
    pub fn expected_average_spend(&self, x: f64, m: f64) -> f64 {
        let GammaGammaParams { p, q, v } = self.params;
        let m = if x == 0.0 { 0.0 } else { m };
        p * (v + x * m) / (p * x + q - 1.0)
    }
}
