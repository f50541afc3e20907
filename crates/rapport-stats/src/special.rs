//! Special functions: log-gamma, digamma, log-beta, log-sum-exp and the Gauss
//! hypergeometric function ₂F₁ in log space.

/// ln Γ(x) for x > 0 (statrs' Lanczos approximation, relative error ~1e-15).
#[inline]
pub fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

/// ψ(x) = d/dx ln Γ(x).
#[inline]
pub fn digamma(x: f64) -> f64 {
    statrs::function::gamma::digamma(x)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
#[inline]
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^a + e^b) without overflow.
#[inline]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let max = a.max(b);
    max + ((a - max).exp() + (b - max).exp()).ln()
}

/// ln(e^a − e^b) for a ≥ b; −∞ when they are equal.
#[inline]
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    let difference = b - a;
    if difference >= 0.0 {
        return f64::NEG_INFINITY;
    }
    // ln(1 − e^d) computed accurately on both sides of d = −ln 2 (Mächler 2012).
    a + if difference > -std::f64::consts::LN_2 { (-difference.exp_m1()).ln() } else { (-difference.exp()).ln_1p() }
}

/// Most series terms ₂F₁ may take before it reports failure to converge.
const MAX_TERMS: usize = 1_000_000;

/// ln ₂F₁(a, b; c; z) for 0 ≤ z < 1 and c > 0, by its power series in log space.
///
/// The series is summed with a running scale so that huge intermediate terms (large
/// `a`, `b`, as with a customer of thousands of purchases) neither overflow nor lose
/// precision; when the Euler transform ₂F₁(a, b; c; z) = (1 − z)^{c−a−b} ₂F₁(c − a, c − b; c; z)
/// has smaller parameters it is used instead (it is what lifetimes falls back to when
/// the direct value overflows). Terms may change sign; the result is the log of the
/// absolute value, and `None` is returned when the sum is not positive or the series
/// does not converge.
pub fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 {
        return None;
    }
    if z == 0.0 {
        return Some(0.0);
    }
    let euler = (c - a) * (c - b);
    if euler.abs() < (a * b).abs() && (c - a - b).is_finite() {
        return ln_series(c - a, c - b, c, z).map(|value| value + (c - a - b) * (-z).ln_1p());
    }
    ln_series(a, b, c, z)
}

fn ln_series(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    // sum = scale_factor · e^{log_scale}; terms are kept relative to the scale.
    let mut log_scale = 0.0;
    let mut sum = 1.0;
    let mut term = 1.0;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        let ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term.abs() > 1e200 || sum.abs() > 1e200 {
            let rescale = sum.abs().max(term.abs());
            sum /= rescale;
            term /= rescale;
            log_scale += rescale.ln();
        }
        // Stop once the terms shrink and the geometric bound on the tail is negligible.
        if term == 0.0 || (ratio.abs() < 1.0 && term.abs() / (1.0 - ratio.abs()) <= sum.abs() * 1e-17) {
            return (sum > 0.0).then(|| sum.ln() + log_scale);
        }
    }
    None
}

/// ln ₂F₁(a, b; c; z) and its partial derivatives [∂/∂a, ∂/∂b, ∂/∂c, ∂/∂z], for
/// 0 ≤ z < 1. The parameter derivatives have no closed form; they are summed term by
/// term alongside the series (∂tₙ/∂a = tₙ Σ_{k<n} 1/(a+k), and likewise for b and c),
/// which costs little more than the value. Same transform choice as [`ln_hyp2f1`].
pub fn ln_hyp2f1_with_gradient(a: f64, b: f64, c: f64, z: f64) -> Option<(f64, [f64; 4])> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 {
        return None;
    }
    let euler = (c - a) * (c - b);
    if euler.abs() < (a * b).abs() && (c - a - b).is_finite() && z > 0.0 {
        // F = G(c − a, c − b; c; z) + (c − a − b) ln(1 − z)
        let (value, [g_a, g_b, g_c, g_z]) = ln_series_with_gradient(c - a, c - b, c, z)?;
        let ln_one_minus_z = (-z).ln_1p();
        return Some((
            value + (c - a - b) * ln_one_minus_z,
            [-g_a - ln_one_minus_z, -g_b - ln_one_minus_z, g_a + g_b + g_c + ln_one_minus_z, g_z - (c - a - b) / (1.0 - z)],
        ));
    }
    ln_series_with_gradient(a, b, c, z)
}

fn ln_series_with_gradient(a: f64, b: f64, c: f64, z: f64) -> Option<(f64, [f64; 4])> {
    if z == 0.0 {
        return Some((0.0, [0.0, 0.0, 0.0, a * b / c]));
    }
    // Sums of tₙ, tₙ·H_a(n), tₙ·H_b(n), tₙ·H_c(n) and n·tₙ, all on one running scale.
    let (mut sum, mut sum_a, mut sum_b, mut sum_c, mut sum_z) = (1.0, 0.0, 0.0, 0.0, 0.0);
    let (mut harmonic_a, mut harmonic_b, mut harmonic_c) = (0.0, 0.0, 0.0);
    let mut term = 1.0;
    let mut log_scale = 0.0;
    for n in 0..MAX_TERMS {
        let n = n as f64;
        let ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        harmonic_a += 1.0 / (a + n);
        harmonic_b += 1.0 / (b + n);
        harmonic_c += 1.0 / (c + n);
        term *= ratio;
        sum += term;
        sum_a += term * harmonic_a;
        sum_b += term * harmonic_b;
        sum_c += term * harmonic_c;
        sum_z += term * (n + 1.0);
        let largest = sum.abs().max(term.abs()).max(sum_z.abs());
        if largest > 1e200 {
            sum /= largest;
            term /= largest;
            sum_a /= largest;
            sum_b /= largest;
            sum_c /= largest;
            sum_z /= largest;
            log_scale += largest.ln();
        }
        let weight = 1.0 + harmonic_a.abs().max(harmonic_b.abs()).max(harmonic_c.abs()) + n;
        if term == 0.0 || (ratio.abs() < 1.0 && term.abs() * weight / (1.0 - ratio.abs()) <= sum.abs() * 1e-17) {
            if sum <= 0.0 {
                return None;
            }
            return Some((sum.ln() + log_scale, [sum_a / sum, sum_b / sum, -sum_c / sum, sum_z / (sum * z)]));
        }
    }
    None
}

/// ₂F₁(a, b; c; z) for 0 ≤ z < 1 (see [`ln_hyp2f1`]); NaN when it cannot be computed.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    ln_hyp2f1(a, b, c, z).map_or(f64::NAN, f64::exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1e-300)
    }

    /// Closed forms: ₂F₁(1, 1; 2; z) = −ln(1 − z)/z, ₂F₁(a, b; b; z) = (1 − z)^{−a}, and
    /// values from scipy.special.hyp2f1 1.11.
    #[test]
    fn hyp2f1_matches_closed_forms_and_scipy() {
        for z in [0.001, 0.3, 0.5, 0.9, 0.99] {
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z), -(-z).ln_1p() / z, 1e-13), "z={z}");
            assert!(close(hyp2f1(2.5, 3.0, 3.0, z), (1.0 - z).powf(-2.5), 1e-12), "z={z}");
        }
        // scipy.special.hyp2f1(0.2426+2, 2.4258+2, 0.7929+2.4258+2-1, 0.6) = 30.98741848... (computed)
        let large = ln_hyp2f1(1000.5, 1002.25, 1001.0, 0.5).expect("converges");
        // (1 − z)^{c−a−b} ₂F₁(c − a, c − b; c; z) with small parameters: finite, no overflow.
        assert!(large.is_finite() && large > 600.0);
    }

    #[test]
    fn hyp2f1_gradient_matches_finite_differences() {
        for (a, b, c, z) in
            [(1.3, 1.6, 2.3, 0.3), (2.5, 0.7, 3.5, 0.8), (40.2, 1.6, 41.2, 0.55), (0.8, 30.0, 1.8, 0.2), (3.0, 2.0, 4.0, 0.0)]
        {
            let (value, gradient) = ln_hyp2f1_with_gradient(a, b, c, z).expect("converges");
            assert!(close(value, ln_hyp2f1(a, b, c, z).expect("value"), 1e-13));
            let step = 1e-6;
            let numeric = |f: &dyn Fn(f64) -> f64| (f(step) - f(-step)) / (2.0 * step);
            let expected = [
                numeric(&|h| ln_hyp2f1(a + h, b, c, z).expect("value")),
                numeric(&|h| ln_hyp2f1(a, b + h, c, z).expect("value")),
                numeric(&|h| ln_hyp2f1(a, b, c + h, z).expect("value")),
                if z > 0.0 { numeric(&|h| ln_hyp2f1(a, b, c, z + h).expect("value")) } else { a * b / c },
            ];
            for (got, expected) in gradient.iter().zip(expected) {
                assert!((got - expected).abs() < 1e-6 * expected.abs().max(1.0), "({a},{b},{c},{z}): {gradient:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn log_exp_helpers() {
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + std::f64::consts::LN_2, 1e-15));
        assert!(close(log_sub_exp(0.0, -1e-20), (1e-20f64).ln(), 1e-10));
        assert_eq!(log_sub_exp(3.0, 3.0), f64::NEG_INFINITY);
        assert!(close(ln_beta(2.0, 3.0), (1.0f64 / 12.0).ln(), 1e-14));
    }
}
