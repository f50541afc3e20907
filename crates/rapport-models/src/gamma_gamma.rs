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

struct Likelihood<'a> {
    data: &'a SpendData,
}

impl LogLikelihood for Likelihood<'_> {
    /// Σ w ln f(m̄ | x; p, q, v): the note's eq. (4), as lifetimes computes it.
    fn log_likelihood(&self, params: &[f64]) -> f64 {
        let (p, q, v) = (params[0], params[1], params[2]);
        self.data
            .rows()
            .iter()
            .map(|&(x, m, weight)| {
                weight
                    * (ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + q * v.ln() + (p * x - 1.0) * m.ln() + p * x * x.ln()
                        - (p * x + q) * (x * m + v).ln())
            })
            .sum()
    }

    fn gradient(&self, params: &[f64]) -> Option<Vec<f64>> {
        let (p, q, v) = (params[0], params[1], params[2]);
        let mut gradient = vec![0.0; 3];
        for &(x, m, weight) in self.data.rows() {
            let spread = (x * m + v).ln();
            gradient[0] += weight * x * (digamma(p * x + q) - digamma(p * x) + m.ln() + x.ln() - spread);
            gradient[1] += weight * (digamma(p * x + q) - digamma(q) + v.ln() - spread);
            gradient[2] += weight * (q / v - (p * x + q) / (x * m + v));
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
        let report = fit_report("gamma-gamma", &NAMES, &Likelihood { data }, &starts, options)?;
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
        Likelihood { data }.log_likelihood(&[self.params.p, self.params.q, self.params.v])
    }

    /// E[M | x, m̄]: the note's eq. (5), p(v + x m̄)/(p x + q − 1); for x = 0 the population
    /// mean p v/(q − 1).
    pub fn expected_average_spend(&self, x: f64, m: f64) -> f64 {
        let GammaGammaParams { p, q, v } = self.params;
        let m = if x == 0.0 { 0.0 } else { m };
        p * (v + x * m) / (p * x + q - 1.0)
    }
}
