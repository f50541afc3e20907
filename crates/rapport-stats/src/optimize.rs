//! Maximum likelihood: a quasi-Newton optimiser over several starting points, and
//! standard errors from the Hessian.
//!
//! The optimiser is argmin's L-BFGS with a Moré–Thuente line search. Models optimise
//! over log-parameters, so positivity bounds hold by construction and the problem is
//! unconstrained.

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use crate::StatsError;

/// An objective to minimise: value and gradient at a point.
pub trait Objective: Sync {
    /// f(x).
    fn value(&self, x: &[f64]) -> f64;
    /// ∇f(x).
    fn gradient(&self, x: &[f64]) -> Vec<f64>;
}

struct Problem<'a, O: Objective>(&'a O);

impl<O: Objective> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Self::Param) -> Result<f64, argmin::core::Error> {
        let value = self.0.value(x);
        // Outside the region where the likelihood can be evaluated: a wall the line
        // search backs away from.
        Ok(if value.is_finite() { value } else { f64::MAX / 4.0 })
    }
}

impl<O: Objective> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, x: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        let gradient = self.0.gradient(x);
        Ok(if gradient.iter().all(|value| value.is_finite()) { gradient } else { vec![0.0; x.len()] })
    }
}

/// Result of a minimisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The best point found.
    pub x: Vec<f64>,
    /// f at that point.
    pub value: f64,
    /// Iterations of the run that found it.
    pub iterations: u64,
    /// Whether that run met its tolerance (rather than running out of iterations).
    pub converged: bool,
    /// Why it stopped, in words.
    pub reason: String,
}

/// Options of [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimizeOptions {
    /// Stop when the gradient norm falls below this. Default 1e-8 (the objective is a
    /// mean log-likelihood per customer, so this is far below what moves the total).
    pub gradient_tolerance: f64,
    /// Stop when the objective changes less than this. Default 1e-13.
    pub cost_tolerance: f64,
    /// Iterations per start. Default 500.
    pub max_iterations: u64,
    /// Stop at the first start whose run converges (the later starts are fallbacks).
    /// Default true: the BTYD likelihoods in log-parameters are well behaved, and each
    /// start costs a full optimisation.
    pub first_converged: bool,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        MinimizeOptions { gradient_tolerance: 1e-8, cost_tolerance: 1e-13, max_iterations: 500, first_converged: true }
    }
}

/// Minimise `objective` from each of `starts`; return the best minimum.
pub fn minimize<O: Objective>(objective: &O, starts: &[Vec<f64>], options: MinimizeOptions) -> Result<Minimum, StatsError> {
    let mut best: Option<Minimum> = None;
    let mut last_error = None;
    for start in starts {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(options.gradient_tolerance)
            .and_then(|solver| solver.with_tolerance_cost(options.cost_tolerance))
            .map_err(|error| StatsError::Optimizer(error.to_string()))?;
        let run =
            Executor::new(Problem(objective), solver).configure(|state| state.param(start.clone()).max_iters(options.max_iterations)).run();
        let result = match run {
            Ok(result) => result,
            Err(error) => {
                last_error = Some(error.to_string());
                continue;
            }
        };
        let state = result.state();
        let Some(x) = state.get_best_param().cloned() else { continue };
        let value = objective.value(&x);
        if !value.is_finite() {
            continue;
        }
        let (converged, reason) = match state.get_termination_status() {
            TerminationStatus::Terminated(reason) => {
                (matches!(reason, TerminationReason::SolverConverged | TerminationReason::TargetCostReached), reason.text().to_string())
            }
            TerminationStatus::NotTerminated => (false, "not terminated".to_string()),
        };
        // A run that stopped on the iteration limit but whose gradient is tiny converged too.
        let gradient_norm = objective.gradient(&x).iter().map(|g| g * g).sum::<f64>().sqrt();
        let converged = converged || gradient_norm < 1e-5 * (1.0 + value.abs());
        let candidate = Minimum { x, value, iterations: state.get_iter(), converged, reason };
        let stop = candidate.converged && options.first_converged;
        if best.as_ref().is_none_or(|best| candidate.value < best.value) {
            best = Some(candidate);
        }
        if stop {
            break;
        }
    }
    best.ok_or_else(|| StatsError::Optimizer(last_error.unwrap_or_else(|| "no starting point gave a finite objective".to_string())))
}

/// [`minimize`] from one start, in coordinates where `hessian` — an estimate of f's
/// Hessian near the start, e.g. from a fit on a sample of the data — is the identity:
/// x = start + L⁻ᵀ u with H = L Lᵀ. L-BFGS begins with the identity as its curvature
/// model, so from a good estimate its first steps are already Newton steps and it needs a
/// few iterations instead of twenty. Falls back to [`minimize`] when H is not positive
/// definite.
pub fn minimize_preconditioned<O: Objective>(
    objective: &O,
    start: &[f64],
    hessian: &[Vec<f64>],
    options: MinimizeOptions,
) -> Result<Minimum, StatsError> {
    let Some(lower) = cholesky(hessian) else {
        return minimize(objective, &[start.to_vec()], options);
    };
    let scaled = Preconditioned { objective, start, lower };
    let mut minimum = minimize(&scaled, &[vec![0.0; start.len()]], options)?;
    minimum.x = scaled.point(&minimum.x);
    Ok(minimum)
}

/// The lower-triangular L with L Lᵀ = `matrix`, if it is symmetric positive definite.
fn cholesky(matrix: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = matrix.len();
    let mut lower = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = matrix[i][j] - (0..j).map(|k| lower[i][k] * lower[j][k]).sum::<f64>();
            if i == j {
                if !(sum > 0.0 && sum.is_finite()) {
                    return None;
                }
                lower[i][i] = sum.sqrt();
            } else {
                lower[i][j] = sum / lower[j][j];
            }
        }
    }
    Some(lower)
}

struct Preconditioned<'a, O: Objective> {
    objective: &'a O,
    start: &'a [f64],
    lower: Vec<Vec<f64>>,
}

impl<O: Objective> Preconditioned<'_, O> {
    /// x = start + L⁻ᵀ u (back substitution).
    fn point(&self, u: &[f64]) -> Vec<f64> {
        let n = u.len();
        let mut y = vec![0.0; n];
        for i in (0..n).rev() {
            let sum = u[i] - (i + 1..n).map(|k| self.lower[k][i] * y[k]).sum::<f64>();
            y[i] = sum / self.lower[i][i];
        }
        self.start.iter().zip(y).map(|(start, step)| start + step).collect()
    }
}

impl<O: Objective> Objective for Preconditioned<'_, O> {
    fn value(&self, u: &[f64]) -> f64 {
        self.objective.value(&self.point(u))
    }

    /// ∇ᵤ f = L⁻¹ ∇ₓ f (forward substitution).
    fn gradient(&self, u: &[f64]) -> Vec<f64> {
        let g = self.objective.gradient(&self.point(u));
        let n = g.len();
        let mut w = vec![0.0; n];
        for i in 0..n {
            let sum = g[i] - (0..i).map(|k| self.lower[i][k] * w[k]).sum::<f64>();
            w[i] = sum / self.lower[i][i];
        }
        w
    }
}

/// The Hessian of `objective` at `x` by forward differences of its gradient (n + 1
/// gradient evaluations), symmetrised. At a minimum, where the gradient is ~0, forward
/// differences with a relative step of 1e-6 give standard errors to about six digits,
/// at half the cost of central ones — each gradient is a full pass over the data.
#[expect(clippy::needless_range_loop, reason = "matrix code reads best with indices")]
pub fn hessian<O: Objective + ?Sized>(objective: &O, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let base = objective.gradient(x);
    let mut hessian = vec![vec![0.0; n]; n];
    for j in 0..n {
        let step = 1e-6 * x[j].abs().max(1e-3);
        let mut up = x.to_vec();
        up[j] += step;
        let shifted = objective.gradient(&up);
        for i in 0..n {
            hessian[i][j] = (shifted[i] - base[i]) / step;
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mean = 0.5 * (hessian[i][j] + hessian[j][i]);
            hessian[i][j] = mean;
            hessian[j][i] = mean;
        }
    }
    hessian
}

/// Inverse of a small symmetric positive-definite matrix by Gauss–Jordan elimination
/// with partial pivoting; `None` when it is singular.
#[expect(clippy::needless_range_loop, reason = "matrix code reads best with indices")]
pub fn invert(matrix: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = matrix.len();
    let mut work: Vec<Vec<f64>> = matrix
        .iter()
        .enumerate()
        .map(|(i, row)| row.iter().copied().chain((0..n).map(|j| if i == j { 1.0 } else { 0.0 })).collect())
        .collect();
    for column in 0..n {
        let pivot = (column..n).max_by(|&a, &b| work[a][column].abs().total_cmp(&work[b][column].abs()))?;
        if work[pivot][column].abs() < 1e-300 {
            return None;
        }
        work.swap(column, pivot);
        let divisor = work[column][column];
        for value in work[column].iter_mut() {
            *value /= divisor;
        }
        for row in 0..n {
            if row != column {
                let factor = work[row][column];
                if factor != 0.0 {
                    for k in 0..2 * n {
                        work[row][k] -= factor * work[column][k];
                    }
                }
            }
        }
    }
    Some(work.into_iter().map(|row| row[n..].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rosenbrock;
    impl Objective for Rosenbrock {
        fn value(&self, x: &[f64]) -> f64 {
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        }
        fn gradient(&self, x: &[f64]) -> Vec<f64> {
            vec![-2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]), 200.0 * (x[1] - x[0] * x[0])]
        }
    }

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let minimum = minimize(&Rosenbrock, &[vec![-1.2, 1.0], vec![2.0, 2.0]], MinimizeOptions::default()).expect("minimum");
        assert!((minimum.x[0] - 1.0).abs() < 1e-6 && (minimum.x[1] - 1.0).abs() < 1e-6, "{minimum:?}");
        assert!(minimum.converged);
        let hessian = hessian(&Rosenbrock, &minimum.x);
        assert!((hessian[0][0] - 802.0).abs() < 1e-2 && (hessian[0][1] + 400.0).abs() < 1e-2);
        let inverse = invert(&hessian).expect("invertible");
        let identity: f64 = (0..2).map(|k| hessian[0][k] * inverse[k][0]).sum();
        assert!((identity - 1.0).abs() < 1e-8);
    }

    /// An ill-scaled quadratic: with its Hessian as the preconditioner, L-BFGS needs a
    /// step or two; a matrix that is not positive definite falls back to plain L-BFGS.
    #[test]
    fn preconditioning_with_the_hessian_converges_at_once() {
        struct Quadratic;
        impl Objective for Quadratic {
            fn value(&self, x: &[f64]) -> f64 {
                let (a, b) = (x[0] - 3.0, x[1] + 1.0);
                0.5 * (1e4 * a * a + 2.0 * 50.0 * a * b + b * b)
            }
            fn gradient(&self, x: &[f64]) -> Vec<f64> {
                let (a, b) = (x[0] - 3.0, x[1] + 1.0);
                vec![1e4 * a + 50.0 * b, 50.0 * a + b]
            }
        }
        let exact = vec![vec![1e4, 50.0], vec![50.0, 1.0]];
        let fast = minimize_preconditioned(&Quadratic, &[0.0, 0.0], &exact, MinimizeOptions::default()).expect("minimum");
        let plain = minimize(&Quadratic, &[vec![0.0, 0.0]], MinimizeOptions::default()).expect("minimum");
        assert!((fast.x[0] - 3.0).abs() < 1e-8 && (fast.x[1] + 1.0).abs() < 1e-6, "{fast:?}");
        assert!(fast.iterations <= 2 && fast.iterations < plain.iterations, "{} vs {}", fast.iterations, plain.iterations);
        let not_positive = vec![vec![1.0, 2.0], vec![2.0, 1.0]];
        let fallback = minimize_preconditioned(&Quadratic, &[0.0, 0.0], &not_positive, MinimizeOptions::default()).expect("minimum");
        assert!((fallback.x[0] - 3.0).abs() < 1e-6, "{fallback:?}");
    }
}
