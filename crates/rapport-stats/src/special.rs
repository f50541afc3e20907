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

/// ln(e^a + e^b) together with the share e^a / (e^a + e^b), from one exp and one ln_1p
/// (the likelihoods need both, per customer).
#[inline]
pub fn log_add_exp_with_share(a: f64, b: f64) -> (f64, f64) {
    if b == f64::NEG_INFINITY {
        return (a, 1.0);
    }
    if a == f64::NEG_INFINITY {
        return (b, 0.0);
    }
    let (high, low) = if a >= b { (a, b) } else { (b, a) };
    let ratio = (low - high).exp();
    let share_of_high = 1.0 / (1.0 + ratio);
    (high + ratio.ln_1p(), if a >= b { share_of_high } else { ratio * share_of_high })
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
    ln_hyp2f1_capped(a, b, c, z, MAX_TERMS)
}

/// [`ln_hyp2f1`] summing at most `max_terms` terms (`None` beyond): for callers with
/// another evaluation to fall back on when the series converges slowly (z near 1).
pub fn ln_hyp2f1_capped(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<f64> {
    if c <= 0.0 {
        return None;
    }
    match ln_hyp2f1_signed_capped(a, b, c, z, max_terms)? {
        (value, sign) if sign > 0.0 => Some(value),
        _ => None,
    }
}

/// ln |₂F₁(a, b; c; z)| and its sign, for 0 ≤ z < 1 and any c that is not zero or a
/// negative integer (c < 0 occurs in the BG/NBD's expectations when a + b < 1, where
/// ₂F₁ can be negative).
pub fn ln_hyp2f1_signed(a: f64, b: f64, c: f64, z: f64) -> Option<(f64, f64)> {
    ln_hyp2f1_signed_capped(a, b, c, z, MAX_TERMS)
}

fn ln_hyp2f1_signed_capped(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<(f64, f64)> {
    if !(0.0..1.0).contains(&z) || (c <= 0.0 && c.fract() == 0.0) || !c.is_finite() {
        return None;
    }
    if z == 0.0 {
        return Some((0.0, 1.0));
    }
    let direct = || ln_series(a, b, c, z, max_terms);
    let euler = || {
        let shift = (c - a - b) * (-z).ln_1p();
        ln_series(c - a, c - b, c, z, max_terms).map(|sum| Sum { ln_abs: sum.ln_abs + shift, ..sum })
    };
    let prefer_euler = ((c - a) * (c - b)).abs() < (a * b).abs() && (c - a - b).is_finite();
    let (first, second): (&dyn Fn() -> Option<Sum>, &dyn Fn() -> Option<Sum>) =
        if prefer_euler { (&euler, &direct) } else { (&direct, &euler) };
    // The form with smaller parameters converges fastest, but when one of them is large
    // and negative (the Euler form's c − a for a huge r, as when a fit runs r and α off
    // to infinity together) its terms alternate and cancel: the sum then keeps none of
    // its digits. Then the other form, whose terms do not cancel, is summed instead.
    let sum = match first() {
        Some(sum) if sum.digits_lost < LOSSY_DIGITS => sum,
        // Of the two, the one that lost fewer digits (the first on a tie).
        lossy => [lossy, second()].into_iter().flatten().min_by(|one, other| one.digits_lost.total_cmp(&other.digits_lost))?,
    };
    (sum.digits_lost < LOSSY_DIGITS).then_some((sum.ln_abs, sum.sign))
}

/// How much a series sum may lose to cancelling terms before it is not trusted, as
/// ln(largest |term| / |Σ|): e^18.4 ≈ 10⁸ leaves about eight of f64's sixteen digits.
const LOSSY_DIGITS: f64 = 18.4;

/// A summed series: ln |Σ|, its sign, and ln(largest |term| / |Σ|), a measure of the
/// digits lost to cancellation (0 when no term exceeds the sum).
#[derive(Clone, Copy)]
struct Sum {
    ln_abs: f64,
    sign: f64,
    digits_lost: f64,
}

/// ln |Σ| and the sign of the ₂F₁ series.
fn ln_series(a: f64, b: f64, c: f64, z: f64, max_terms: usize) -> Option<Sum> {
    // sum = scale_factor · e^{log_scale}; terms are kept relative to the scale.
    let mut log_scale = 0.0;
    let mut sum = 1.0f64;
    let mut term = 1.0f64;
    let mut peak = 1.0f64;
    for n in 0..max_terms {
        let n = n as f64;
        let ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        term *= ratio;
        sum += term;
        peak = peak.max(term.abs());
        if term.abs() > 1e200 || sum.abs() > 1e200 {
            let rescale = sum.abs().max(term.abs());
            sum /= rescale;
            term /= rescale;
            peak /= rescale;
            log_scale += rescale.ln();
        }
        // Stop once the terms shrink and the geometric bound on the tail is negligible
        // (with c < 0 the first terms may grow before c + n turns positive).
        if term == 0.0 || (n > -c && ratio.abs() < 1.0 && term.abs() / (1.0 - ratio.abs()) <= sum.abs() * 1e-17) {
            return (sum != 0.0 && sum.is_finite()).then(|| Sum {
                ln_abs: sum.abs().ln() + log_scale,
                sign: sum.signum(),
                digits_lost: (peak / sum.abs()).ln().max(0.0),
            });
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

/// Reciprocals 1/(base + k), k = 0, 1, 2, …, tabulated once so that a ₂F₁ series over
/// parameters on this grid needs no division per term (see [`ln_hyp2f1_with_gradient_on_grids`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReciprocalGrid {
    base: f64,
    table: Vec<f64>,
}

impl ReciprocalGrid {
    /// 1/(base + k) for k < `len`; beyond that each is computed when asked for.
    pub fn new(base: f64, len: usize) -> ReciprocalGrid {
        ReciprocalGrid { base, table: (0..len).map(|k| 1.0 / (base + k as f64)).collect() }
    }

    /// 1/(base + k).
    #[inline]
    pub fn at(&self, k: usize) -> f64 {
        match self.table.get(k) {
            Some(value) => *value,
            None => 1.0 / (self.base + k as f64),
        }
    }

    /// The parameter `base + shift`, on this grid.
    pub fn param(&self, shift: usize) -> OnGrid<'_> {
        OnGrid { grid: self, shift }
    }
}

/// A ₂F₁ parameter `base + shift` of a [`ReciprocalGrid`].
#[derive(Debug, Clone, Copy)]
pub struct OnGrid<'a> {
    grid: &'a ReciprocalGrid,
    shift: usize,
}

impl OnGrid<'_> {
    /// The parameter's value.
    #[inline]
    pub fn value(self) -> f64 {
        self.grid.base + self.shift as f64
    }

    /// 1/(value + n).
    #[inline]
    fn reciprocal(self, n: usize) -> f64 {
        self.grid.at(self.shift + n)
    }
}

/// The parameters of ₂F₁(a, b; c; z) on grids, with c − a and c − b (for the Euler
/// transform) and the grid 1/(1 + k) of the series' n + 1.
#[derive(Debug, Clone, Copy)]
pub struct GridParams<'a> {
    /// a.
    pub a: OnGrid<'a>,
    /// b.
    pub b: OnGrid<'a>,
    /// c.
    pub c: OnGrid<'a>,
    /// c − a.
    pub c_minus_a: OnGrid<'a>,
    /// c − b.
    pub c_minus_b: OnGrid<'a>,
    /// 1/(1 + k).
    pub ones: &'a ReciprocalGrid,
    /// Most series terms to sum before giving up (`None`), for callers that have another
    /// evaluation for slowly converging series.
    pub max_terms: usize,
}

/// [`ln_hyp2f1_with_gradient`] for parameters on reciprocal grids: the same transform
/// choice and the same series, but every 1/(a + n), 1/(b + n), 1/(c + n), 1/(n + 1) is a
/// table read. The Pareto/NBD likelihood evaluates two series per customer with
/// a = r + s + x, c = a + 1 and b = r + x or s + 1 (x an integer), so one set of grids per
/// evaluation serves a million customers. Hand-written because the divisions were most
/// of the cost of fitting; agrees with the general function to rounding (tested below).
pub fn ln_hyp2f1_with_gradient_on_grids(params: &GridParams<'_>, z: f64) -> Option<(f64, [f64; 4])> {
    let (a, b, c) = (params.a.value(), params.b.value(), params.c.value());
    if !(0.0..1.0).contains(&z) || c <= 0.0 {
        return None;
    }
    if z == 0.0 {
        return Some((0.0, [0.0, 0.0, 0.0, a * b / c]));
    }
    // One series, run as both lanes of the pair (a lane's result does not depend on the other).
    let [value, _] = ln_hyp2f1_with_gradient_on_grids_pair(params, [z, z]);
    value
}

/// [`ln_hyp2f1_with_gradient_on_grids`] at two arguments at once. The Pareto/NBD needs
/// ₂F₁ with the same parameters at z(t_x) and z(T); the reciprocals, the harmonic sums and
/// the term ratio without z are shared, so the pair costs little more than one.
pub fn ln_hyp2f1_with_gradient_on_grids_pair(params: &GridParams<'_>, z: [f64; 2]) -> [Option<(f64, [f64; 4])>; 2] {
    let (a, b, c) = (params.a.value(), params.b.value(), params.c.value());
    if z.iter().any(|z| !(0.0..1.0).contains(z) || *z == 0.0) || c <= 0.0 {
        return z.map(|z| ln_hyp2f1_with_gradient_on_grids(params, z));
    }
    let euler = (c - a) * (c - b);
    if euler.abs() < (a * b).abs() && (c - a - b).is_finite() {
        let series = ln_series_on_grids_pair(params.c_minus_a, params.c_minus_b, params.c, params.ones, z, params.max_terms);
        return std::array::from_fn(|lane| {
            let (value, [g_a, g_b, g_c, g_z]) = series[lane]?;
            let ln_one_minus_z = (-z[lane]).ln_1p();
            Some((
                value + (c - a - b) * ln_one_minus_z,
                [-g_a - ln_one_minus_z, -g_b - ln_one_minus_z, g_a + g_b + g_c + ln_one_minus_z, g_z - (c - a - b) / (1.0 - z[lane])],
            ))
        });
    }
    ln_series_on_grids_pair(params.a, params.b, params.c, params.ones, z, params.max_terms)
}

/// The ₂F₁ series with its parameter derivatives on tabulated reciprocals, at two
/// arguments 0 < z < 1 (a, b, c positive); [`ln_series_with_gradient`] without divisions.
fn ln_series_on_grids_pair(
    a: OnGrid<'_>,
    b: OnGrid<'_>,
    c: OnGrid<'_>,
    ones: &ReciprocalGrid,
    z: [f64; 2],
    max_terms: usize,
) -> [Option<(f64, [f64; 4])>; 2] {
    let (a_value, b_value) = (a.value(), b.value());
    if a_value <= 0.0 || b_value <= 0.0 || c.value() <= 0.0 {
        return [None, None];
    }
    let mut sum = [1.0f64; 2];
    let (mut sum_a, mut sum_b, mut sum_c, mut sum_z) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
    let (mut harmonic_a, mut harmonic_b, mut harmonic_c) = (0.0, 0.0, 0.0);
    let mut term = [1.0f64; 2];
    let mut log_scale = [0.0f64; 2];
    let mut done = [None; 2];
    for n in 0..max_terms {
        let (inverse_a, inverse_b, inverse_c) = (a.reciprocal(n), b.reciprocal(n), c.reciprocal(n));
        let shared = (a_value + n as f64) * (b_value + n as f64) * inverse_c * ones.at(n);
        harmonic_a += inverse_a;
        harmonic_b += inverse_b;
        harmonic_c += inverse_c;
        let weight = 1.0 + harmonic_a.max(harmonic_b).max(harmonic_c) + n as f64;
        for lane in 0..2 {
            if done[lane].is_some() {
                continue;
            }
            let ratio = shared * z[lane];
            term[lane] *= ratio;
            sum[lane] += term[lane];
            sum_a[lane] += term[lane] * harmonic_a;
            sum_b[lane] += term[lane] * harmonic_b;
            sum_c[lane] += term[lane] * harmonic_c;
            sum_z[lane] += term[lane] * (n as f64 + 1.0);
            if sum[lane] > 1e200 || term[lane] > 1e200 || sum_z[lane] > 1e200 {
                let largest = sum[lane].max(term[lane]).max(sum_z[lane]);
                sum[lane] /= largest;
                term[lane] /= largest;
                sum_a[lane] /= largest;
                sum_b[lane] /= largest;
                sum_c[lane] /= largest;
                sum_z[lane] /= largest;
                log_scale[lane] += largest.ln();
            }
            if term[lane] == 0.0 || (ratio < 1.0 && term[lane] * weight <= sum[lane] * 1e-16 * (1.0 - ratio)) {
                let total = sum[lane];
                done[lane] = Some((
                    total.ln() + log_scale[lane],
                    [sum_a[lane] / total, sum_b[lane] / total, -sum_c[lane] / total, sum_z[lane] / (total * z[lane])],
                ));
            }
        }
        if done.iter().all(Option::is_some) {
            return done;
        }
    }
    done
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

    /// A huge `a` with a tiny `z` (a fit running r and α to infinity together): the Euler
    /// form's terms alternate and cancel to nothing, the direct series' do not. mpmath
    /// 1.3 at 50 digits: ln ₂F₁(10⁹, 1.5; 0.75; 5·10⁻⁷) = 504.98589445014425916; scipy's
    /// hyp2f1 returns nan there.
    #[test]
    fn hyp2f1_with_cancelling_euler_terms_sums_the_direct_series() {
        let value = ln_hyp2f1(1e9, 1.5, 0.75, 5e-7).expect("converges");
        assert!(close(value, 504.985_894_450_144_26, 1e-10), "{value}");
        // The MBG/NBD fit of seven customers that ran there (r, α, a, b), at x = 0, T = t.
        let (r, alpha, a, b, t) =
            (6_295_078_721.289_342, 428_343_637.111_019_1, 0.161_918_556_791_768_25, 0.081_568_556_575_032_3, 52.955_930_180_937_685);
        let (value, sign) = ln_hyp2f1_signed(r, b + 1.0, a + b, t / (alpha + 2.0 * t)).expect("converges");
        assert!(sign > 0.0 && close(value, 785.194_578_843_526_1, 1e-9), "{value}");
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

    /// The grid version is the general function with its divisions tabulated: same
    /// values and gradients to rounding, on both sides of the Euler transform.
    #[test]
    fn hyp2f1_on_grids_matches_the_general_function() {
        let ones = ReciprocalGrid::new(1.0, 64);
        for (r, s) in [(0.24, 0.61), (0.55, 0.6), (2.0, 0.3), (0.05, 3.5)] {
            let (rs, r_grid, s1) = (ReciprocalGrid::new(r + s, 40), ReciprocalGrid::new(r, 40), ReciprocalGrid::new(s + 1.0, 40));
            for x in [0usize, 1, 3, 17, 200] {
                for z in [0.0, 1e-9, 0.05, 0.4, 0.8, 0.97] {
                    // b = r + x (α < β): c − b = s + 1; b = s + 1 (α ≥ β): c − b = r + x.
                    for (b, c_minus_b) in [(r_grid.param(x), s1.param(0)), (s1.param(0), r_grid.param(x))] {
                        let params = GridParams {
                            a: rs.param(x),
                            b,
                            c: rs.param(x + 1),
                            c_minus_a: ones.param(0),
                            c_minus_b,
                            ones: &ones,
                            max_terms: MAX_TERMS,
                        };
                        let (a_value, b_value) = (r + s + x as f64, b.value());
                        let general = ln_hyp2f1_with_gradient(a_value, b_value, a_value + 1.0, z).expect("general");
                        let grid = ln_hyp2f1_with_gradient_on_grids(&params, z).expect("grid");
                        // The pair gives exactly what two single calls give.
                        let pair = ln_hyp2f1_with_gradient_on_grids_pair(&params, [z, 0.5 * z + 0.01]);
                        assert_eq!(pair[0], Some(grid), "{r} {s} {x} {z}");
                        assert_eq!(pair[1], ln_hyp2f1_with_gradient_on_grids(&params, 0.5 * z + 0.01));
                        assert!(close(grid.0, general.0, 1e-12) || (grid.0 - general.0).abs() < 1e-13, "{r} {s} {x} {z}");
                        for (got, expected) in grid.1.iter().zip(general.1) {
                            assert!(
                                (got - expected).abs() <= 1e-10 * expected.abs().max(1e-3),
                                "{r} {s} {x} {z}: {:?} vs {:?}",
                                grid.1,
                                general.1
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn log_exp_helpers() {
        for (a, b) in [(0.0, 0.0), (-3.0, 2.0), (700.0, -5.0), (f64::NEG_INFINITY, 1.0), (1.0, f64::NEG_INFINITY), (-1e-3, -2e-3)] {
            let (value, share) = log_add_exp_with_share(a, b);
            assert!(close(value, log_add_exp(a, b), 1e-15), "{a} {b}");
            let expected = if a == f64::NEG_INFINITY { 0.0 } else { (a - log_add_exp(a, b)).exp() };
            assert!((share - expected).abs() < 1e-15, "{a} {b}: {share} vs {expected}");
        }
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + std::f64::consts::LN_2, 1e-15));
        assert!(close(log_sub_exp(0.0, -1e-20), (1e-20f64).ln(), 1e-10));
        assert_eq!(log_sub_exp(3.0, 3.0), f64::NEG_INFINITY);
        assert!(close(ln_beta(2.0, 3.0), (1.0f64 / 12.0).ln(), 1e-14));
    }
}
