//! What every fitted model reports, and the shared maximum-likelihood machinery.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use rapport_stats::optimize::{MinimizeOptions, Objective, hessian, invert, minimize, minimize_preconditioned};

use crate::ModelError;

/// The fit of a model: parameters with standard errors and intervals, log-likelihood,
/// convergence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Model name: `bg-nbd`, `mbg-nbd`, `pareto-nbd`, `bg-bb`, `gamma-gamma`.
    pub model: String,
    /// Parameter names, in the paper's order.
    pub names: Vec<String>,
    /// Maximum-likelihood estimates.
    pub params: Vec<f64>,
    /// Standard errors from the inverse Hessian of the log-likelihood (`NaN`, written as
    /// `null`, where a parameter is not identified or the Hessian is singular).
    #[serde(deserialize_with = "floats_or_null")]
    pub std_errors: Vec<f64>,
    /// 95% intervals, computed on the log scale (exp(ln θ ± 1.96 · SE/θ)), so they stay
    /// positive.
    #[serde(deserialize_with = "pairs_or_null")]
    pub intervals: Vec<(f64, f64)>,
    /// Log-likelihood at the estimates (the paper's, in the data's time unit).
    #[serde(deserialize_with = "float_or_null")]
    pub log_likelihood: f64,
    /// Customers the model was fitted on.
    pub n_customers: f64,
    /// Whether the optimiser met its tolerance.
    pub converged: bool,
    /// Iterations of the best run.
    pub iterations: u64,
    /// L2 penalty on the log-parameters the fit used (added to the mean negative
    /// log-likelihood); 0 for plain maximum likelihood.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub penalizer: f64,
    /// Parameters the data do not pin down, with where the likelihood takes them: `"s →
    /// 0"`, `"beta → ∞"`, or `"r (flat)"` on a ridge. Their standard errors and intervals
    /// are absent (`NaN`), not made up; a penalty (`penalizer`) usually settles them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_identified: Vec<String>,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

// JSON has no NaN: serde_json writes it as `null`, and these read it back.
fn float_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

fn floats_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(deserializer)?.into_iter().map(|value| value.unwrap_or(f64::NAN)).collect())
}

fn pairs_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<(f64, f64)>, D::Error> {
    Ok(Vec::<(Option<f64>, Option<f64>)>::deserialize(deserializer)?
        .into_iter()
        .map(|(low, high)| (low.unwrap_or(f64::NAN), high.unwrap_or(f64::NAN)))
        .collect())
}

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FitOptions {
    /// L2 penalty on the log-parameters added to the mean negative log-likelihood
    /// (lifetimes' `penalizer_coef` squares the raw parameters instead, so its values do
    /// not carry over): 0 is plain maximum likelihood; 0.001–0.1 keeps
    /// parameters off a boundary the data cannot rule out.
    pub penalizer: f64,
}

impl FitOptions {
    /// Check the options.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.penalizer.is_finite() && self.penalizer >= 0.0) {
            return Err(ModelError::InvalidParameter { name: "penalizer", value: self.penalizer, reason: "must be a finite number ≥ 0" });
        }
        Ok(())
    }
}

impl FitReport {
    /// The parameters as (name, value) pairs.
    pub fn named_params(&self) -> impl Iterator<Item = (&str, f64)> {
        self.names.iter().map(String::as_str).zip(self.params.iter().copied())
    }
}

/// A log-likelihood over log-parameters, to be maximised.
pub(crate) trait LogLikelihood: Sync {
    /// Total log-likelihood at natural parameters.
    fn log_likelihood(&self, params: &[f64]) -> f64;
    /// Gradient of the total log-likelihood at natural parameters; `None` → numerical.
    fn gradient(&self, _params: &[f64]) -> Option<Vec<f64>> {
        None
    }
    /// Both at once (one pass over the rows), when the model has an analytic gradient.
    fn value_and_gradient(&self, _params: &[f64]) -> Option<(f64, Vec<f64>)> {
        None
    }
    /// Number of customers (for scaling the objective).
    fn customers(&self) -> f64;
}

/// Likelihood evaluations (value and gradient) so far, reported with RAPPORT_TIMINGS=1 (as `rapport::timings` events).
static EVALUATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// −LL / N over θ = ln(params).
///
/// The optimiser asks for the value and then the gradient at the same point; models
/// with an analytic gradient compute both in one pass over the rows, and the result is
/// kept for the second question.
struct NegativeMean<'a, L: LogLikelihood>(&'a L, std::sync::Mutex<Option<Evaluated>>, f64);

/// A point θ with the objective's value and gradient there.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

impl<'a, L: LogLikelihood> NegativeMean<'a, L> {
    fn new(likelihood: &'a L, options: &FitOptions) -> Self {
        NegativeMean(likelihood, std::sync::Mutex::new(None), options.penalizer)
    }

    /// The penalty's value and gradient at θ.
    fn penalty(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let penalizer = self.2;
        (penalizer * theta.iter().map(|value| value * value).sum::<f64>(), theta.iter().map(|value| 2.0 * penalizer * value).collect())
    }

    /// Value and gradient in θ from one pass, if the model can, cached by point.
    fn both(&self, theta: &[f64]) -> Option<(f64, Vec<f64>)> {
        if let Ok(cache) = self.1.lock()
            && let Some((point, value, gradient)) = cache.as_ref()
            && point.as_slice() == theta
        {
            return Some((*value, gradient.clone()));
        }
        let params: Vec<f64> = theta.iter().map(|value| value.exp()).collect();
        EVALUATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (log_likelihood, gradient) = self.0.value_and_gradient(&params)?;
        let customers = self.0.customers();
        let value = -log_likelihood / customers;
        let gradient: Vec<f64> = gradient.iter().zip(&params).map(|(g, p)| -g * p / customers).collect();
        if let Ok(mut cache) = self.1.lock() {
            *cache = Some((theta.to_vec(), value, gradient.clone()));
        }
        Some((value, gradient))
    }
}

impl<L: LogLikelihood> Objective for NegativeMean<'_, L> {
    fn value(&self, theta: &[f64]) -> f64 {
        self.unpenalized_value(theta) + self.penalty(theta).0
    }

    fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        let (_, penalty) = self.penalty(theta);
        self.unpenalized_gradient(theta).iter().zip(penalty).map(|(gradient, penalty)| gradient + penalty).collect()
    }
}

impl<L: LogLikelihood> NegativeMean<'_, L> {
    fn unpenalized_value(&self, theta: &[f64]) -> f64 {
        if let Some((value, _)) = self.both(theta) {
            return value;
        }
        let params: Vec<f64> = theta.iter().map(|value| value.exp()).collect();
        -self.0.log_likelihood(&params) / self.0.customers()
    }

    fn unpenalized_gradient(&self, theta: &[f64]) -> Vec<f64> {
        if let Some((_, gradient)) = self.both(theta) {
            return gradient;
        }
        let params: Vec<f64> = theta.iter().map(|value| value.exp()).collect();
        match self.0.gradient(&params) {
            Some(gradient) => gradient.iter().zip(&params).map(|(g, p)| -g * p / self.0.customers()).collect(),
            None => {
                // Central differences in θ; each evaluation is itself parallel.
                (0..theta.len())
                    .map(|index| {
                        let step = 1e-6;
                        let mut up = theta.to_vec();
                        let mut down = theta.to_vec();
                        up[index] += step;
                        down[index] -= step;
                        (self.value(&up) - self.value(&down)) / (2.0 * step)
                    })
                    .collect()
            }
        }
    }
}

/// The negative log-likelihood (with the penalty, scaled to the total) over natural
/// parameters, for the Hessian.
struct Natural<'a, L: LogLikelihood>(&'a L, f64);

impl<L: LogLikelihood> Natural<'_, L> {
    fn penalty(&self, params: &[f64]) -> (f64, Vec<f64>) {
        let scale = self.1 * self.0.customers();
        (
            scale * params.iter().map(|value| value.ln().powi(2)).sum::<f64>(),
            params.iter().map(|value| 2.0 * scale * value.ln() / value).collect(),
        )
    }
}

impl<L: LogLikelihood> Objective for Natural<'_, L> {
    fn value(&self, params: &[f64]) -> f64 {
        -self.0.log_likelihood(params) + self.penalty(params).0
    }
    fn gradient(&self, params: &[f64]) -> Vec<f64> {
        let (_, penalty) = self.penalty(params);
        match self.0.gradient(params) {
            Some(gradient) => gradient.iter().zip(penalty).map(|(g, penalty)| -g + penalty).collect(),
            None => (0..params.len())
                .map(|index| {
                    let step = 1e-6 * params[index].abs().max(1e-3);
                    let mut up = params.to_vec();
                    let mut down = params.to_vec();
                    up[index] += step;
                    down[index] -= step;
                    (self.value(&up) - self.value(&down)) / (2.0 * step)
                })
                .collect(),
        }
    }
}

/// Maximise `likelihood` from `starts` (natural parameters) and report.
pub(crate) fn fit_report<L: LogLikelihood>(
    model: &str,
    names: &[&str],
    likelihood: &L,
    starts: &[Vec<f64>],
    options: &FitOptions,
) -> Result<FitReport, ModelError> {
    fit_report_from(model, names, likelihood, starts, None, options)
}

/// An estimate on a sample of the rows, with the Hessian of the sample's mean objective
/// in log-parameters there: where to start the full fit, and how to scale it.
pub(crate) struct SampleEstimate {
    params: Vec<f64>,
    hessian: Vec<Vec<f64>>,
}

impl SampleEstimate {
    /// Fit `sample` and take its Hessian (four gradient evaluations on the sample).
    pub(crate) fn fit<L: LogLikelihood>(sample: &L, starts: &[Vec<f64>], options: &FitOptions) -> Result<SampleEstimate, ModelError> {
        let theta_starts: Vec<Vec<f64>> = starts.iter().map(|start| start.iter().map(|value| value.ln()).collect()).collect();
        let objective = NegativeMean::new(sample, options);
        let minimum = minimize(&objective, &theta_starts, MinimizeOptions::default())?;
        let hessian = hessian(&objective, &minimum.x);
        Ok(SampleEstimate { params: minimum.x.iter().map(|value| value.exp()).collect(), hessian })
    }

    /// The estimate (natural parameters).
    pub(crate) fn params(&self) -> &[f64] {
        &self.params
    }
}

/// [`fit_report`], starting from a sample estimate when there is one: the full fit runs
/// in coordinates scaled by the sample's Hessian, which takes it to the optimum in a few
/// iterations; if that does not converge, the plain starts are tried.
pub(crate) fn fit_report_from<L: LogLikelihood>(
    model: &str,
    names: &[&str],
    likelihood: &L,
    starts: &[Vec<f64>],
    sample: Option<&SampleEstimate>,
    options: &FitOptions,
) -> Result<FitReport, ModelError> {
    options.validate()?;
    let fit_started = std::time::Instant::now();
    let theta_starts: Vec<Vec<f64>> = starts.iter().map(|start| start.iter().map(|value| value.ln()).collect()).collect();
    let objective = NegativeMean::new(likelihood, options);
    let preconditioned = sample.and_then(|sample| {
        let theta: Vec<f64> = sample.params.iter().map(|value| value.ln()).collect();
        minimize_preconditioned(&objective, &theta, &sample.hessian, MinimizeOptions::default()).ok().filter(|minimum| minimum.converged)
    });
    let minimum = match preconditioned {
        Some(minimum) => minimum,
        None => minimize(&objective, &theta_starts, MinimizeOptions::default())?,
    };
    let params: Vec<f64> = minimum.x.iter().map(|value| value.exp()).collect();
    let log_likelihood = likelihood.log_likelihood(&params);
    let optimised = EVALUATIONS.load(std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let covariance = invert(&hessian(&Natural(likelihood, options.penalizer), &params));
    tracing::info!(
        target: "rapport::timings",
        model,
        customers = likelihood.customers(),
        iterations = minimum.iterations,
        evaluations_so_far = optimised,
        optimise = ?(started - fit_started),
        hessian = ?started.elapsed(),
        "fit"
    );
    // A parameter is identified when its variance is positive and its interval on the
    // log scale is not astronomically wide (±3 in ln θ: a factor of 400 either way). A
    // negative variance (the Hessian is not positive definite there) or none at all
    // (singular) leaves it unidentified; its standard error is then absent, never 0.
    let variance = |index: usize| covariance.as_ref().map_or(f64::NAN, |covariance| covariance[index][index]);
    let identified: Vec<bool> = (0..params.len())
        .map(|index| {
            let log_variance = variance(index) / (params[index] * params[index]);
            log_variance.is_finite() && log_variance > 0.0 && log_variance.sqrt() <= 3.0
        })
        .collect();
    let std_errors: Vec<f64> = (0..params.len()).map(|index| if identified[index] { variance(index).sqrt() } else { f64::NAN }).collect();
    let intervals = params
        .iter()
        .zip(&std_errors)
        .map(|(value, error)| {
            let spread = 1.959_963_984_540_054 * error / value;
            ((value.ln() - spread).exp(), (value.ln() + spread).exp())
        })
        .collect();
    let not_identified = (0..params.len())
        .filter(|&index| !identified[index])
        .map(|index| {
            // Where the likelihood takes it: is it as good or better far up, or far down?
            let at = |shift: f64| {
                let mut moved = params.clone();
                moved[index] *= shift.exp();
                likelihood.log_likelihood(&moved)
            };
            let tolerance = 1e-6 * log_likelihood.abs().max(1.0);
            let name = names[index];
            match (at(3.0) >= log_likelihood - tolerance, at(-3.0) >= log_likelihood - tolerance) {
                (true, false) => format!("{name} → ∞"),
                (false, true) => format!("{name} → 0"),
                _ => format!("{name} (flat)"),
            }
        })
        .collect();
    Ok(FitReport {
        model: model.to_string(),
        names: names.iter().map(|name| name.to_string()).collect(),
        params,
        std_errors,
        intervals,
        log_likelihood,
        n_customers: likelihood.customers(),
        converged: minimum.converged,
        iterations: minimum.iterations,
        penalizer: options.penalizer,
        not_identified,
    })
}

/// Sum `term(row)` over rows, in parallel for large inputs. The same bits on every run
/// and any number of threads: each fixed chunk of 2,048 rows is summed on some core, and
/// the chunks' sums are added in row order here. (Rayon's own `sum` adds the partial sums
/// in a tree shaped by work stealing, so the last bits of a fit, and of everything
/// computed from it, changed from run to run.)
pub(crate) fn parallel_sum<T: Sync>(rows: &[T], term: impl Fn(&T) -> f64 + Sync) -> f64 {
    if rows.len() < 4096 {
        rows.iter().map(term).sum()
    } else {
        let chunks: Vec<f64> = rows.par_chunks(2048).map(|chunk| chunk.iter().map(&term).sum::<f64>()).collect();
        chunks.iter().sum()
    }
}

/// Sum gradient vectors `term(row)` over rows, in parallel for large inputs, with the same
/// bits on every run (see [`parallel_sum`]).
pub(crate) fn parallel_sum_vec<T: Sync, const N: usize>(rows: &[T], term: impl Fn(&T) -> [f64; N] + Sync) -> [f64; N] {
    let add = |mut a: [f64; N], b: [f64; N]| {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        a
    };
    if rows.len() < 4096 {
        rows.iter().map(&term).fold([0.0; N], add)
    } else {
        // In row order, as in `parallel_sum`.
        let chunks: Vec<[f64; N]> = rows.par_chunks(2048).map(|chunk| chunk.iter().map(&term).fold([0.0; N], add)).collect();
        chunks.into_iter().fold([0.0; N], add)
    }
}

impl FitReport {
    /// The report of a model given its parameters rather than fitted (published values,
    /// a saved model): no standard errors, no log-likelihood. Checks that every
    /// parameter is finite and positive.
    pub(crate) fn given(model: &str, names: &[&'static str], params: &[f64]) -> Result<FitReport, ModelError> {
        check_positive(names, params)?;
        Ok(FitReport {
            model: model.to_string(),
            names: names.iter().map(|name| name.to_string()).collect(),
            params: params.to_vec(),
            std_errors: vec![f64::NAN; params.len()],
            intervals: vec![(f64::NAN, f64::NAN); params.len()],
            log_likelihood: f64::NAN,
            n_customers: 0.0,
            converged: true,
            iterations: 0,
            penalizer: 0.0,
            not_identified: Vec::new(),
        })
    }
}

/// Check that every parameter is finite and positive.
pub(crate) fn check_positive(names: &[&'static str], values: &[f64]) -> Result<(), ModelError> {
    for (name, value) in names.iter().zip(values) {
        if !(value.is_finite() && *value > 0.0) {
            return Err(ModelError::InvalidParameter { name, value: *value, reason: "must be a finite number > 0" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parallel_sum, parallel_sum_vec};

    /// The sums a fit is made of have the same bits on one thread and on several: a fit,
    /// and everything computed from it, is reproducible run to run and machine to machine.
    #[test]
    fn parallel_sums_do_not_depend_on_the_threads() {
        // Terms of very different sizes, so that the order of additions shows in the bits.
        let rows: Vec<f64> = (0..200_003_u64).map(|i| ((i * 2_654_435_761) % 1_000_003) as f64 * 10f64.powi((i % 13) as i32 - 6)).collect();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            pool.install(|| (parallel_sum(&rows, |x| *x), parallel_sum_vec(&rows, |x| [*x, x.sqrt()])))
        };
        let one = on(1);
        for threads in [2, 3, 8] {
            let many = on(threads);
            assert_eq!(one.0.to_bits(), many.0.to_bits(), "{threads} threads");
            assert_eq!(one.1.map(f64::to_bits), many.1.map(f64::to_bits), "{threads} threads");
        }
    }
}
