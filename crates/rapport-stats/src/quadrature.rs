//! Adaptive Gauss–Kronrod quadrature (the 7/15-point pair of QUADPACK's `qk15`) of a
//! vector-valued integrand.
//!
//! Written here rather than taken from a crate because the likelihoods integrate a value
//! and its parameter derivatives together: all components share the nodes (one
//! evaluation of the integrand's common factor serves them all), and the number of
//! subintervals is capped so that the cost per customer is bounded.

/// Kronrod nodes on [−1, 1] (the positive half; 0 last).
const NODES: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights of [`NODES`].
const KRONROD: [f64; 8] = [
    0.022_935_322_010_529_225,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
/// Gauss weights of the odd-indexed nodes (1, 3, 5, 7).
const GAUSS: [f64; 4] = [0.129_484_966_168_869_7, 0.279_705_391_489_276_7, 0.381_830_050_505_118_9, 0.417_959_183_673_469_4];

/// The result of an integration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Integral<const N: usize> {
    /// The integral of each component.
    pub value: [f64; N],
    /// Estimated absolute error of each component (|Kronrod − Gauss| summed over the
    /// subintervals).
    pub error: [f64; N],
    /// Whether every component met the tolerance within the subinterval cap.
    pub converged: bool,
}

struct Piece<const N: usize> {
    low: f64,
    high: f64,
    value: [f64; N],
    error: [f64; N],
}

fn rule<const N: usize>(f: &mut impl FnMut(f64) -> [f64; N], low: f64, high: f64) -> Piece<N> {
    let centre = 0.5 * (low + high);
    let half = 0.5 * (high - low);
    let mut kronrod = [0.0; N];
    let mut gauss = [0.0; N];
    for (index, node) in NODES.iter().enumerate() {
        let points: &[f64] = if *node == 0.0 { &[centre] } else { &[centre - half * node, centre + half * node] };
        for &point in points {
            let values = f(point);
            for component in 0..N {
                kronrod[component] += KRONROD[index] * values[component];
                if index % 2 == 1 {
                    gauss[component] += GAUSS[index / 2] * values[component];
                }
            }
        }
    }
    let value = kronrod.map(|sum| sum * half);
    let error = std::array::from_fn(|component| ((kronrod[component] - gauss[component]) * half).abs());
    Piece { low, high, value, error }
}

/// ∫ f over [low, high], each component to `relative` of the integral of the first
/// component's scale (`max(|∫ f₀|, tiny)`) or of its own, bisecting the subinterval with
/// the largest error, at most `max_pieces` subintervals (15 evaluations each, plus 15
/// per bisection).
pub fn integrate<const N: usize>(mut f: impl FnMut(f64) -> [f64; N], low: f64, high: f64, relative: f64, max_pieces: usize) -> Integral<N> {
    let mut pieces = vec![rule(&mut f, low, high)];
    loop {
        let value: [f64; N] = std::array::from_fn(|component| pieces.iter().map(|piece| piece.value[component]).sum());
        let error: [f64; N] = std::array::from_fn(|component| pieces.iter().map(|piece| piece.error[component]).sum());
        let met = (0..N).all(|component| error[component] <= relative * value[component].abs().max(f64::MIN_POSITIVE));
        if met || pieces.len() >= max_pieces {
            return Integral { value, error, converged: met && value.iter().all(|value| value.is_finite()) };
        }
        // The subinterval contributing most to the worst component's relative error.
        let worst = (0..N)
            .max_by(|&a, &b| {
                let share = |component: usize| error[component] / value[component].abs().max(f64::MIN_POSITIVE);
                share(a).total_cmp(&share(b))
            })
            .unwrap_or(0);
        let index = (0..pieces.len()).max_by(|&a, &b| pieces[a].error[worst].total_cmp(&pieces[b].error[worst])).unwrap_or(0);
        let piece = pieces.swap_remove(index);
        let middle = 0.5 * (piece.low + piece.high);
        if middle <= piece.low || middle >= piece.high {
            // No room left to bisect in floating point.
            pieces.push(piece);
            let value = std::array::from_fn(|component| pieces.iter().map(|piece| piece.value[component]).sum());
            return Integral { value, error, converged: false };
        }
        pieces.push(rule(&mut f, piece.low, middle));
        pieces.push(rule(&mut f, middle, piece.high));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_two_and_polynomials_are_exact() {
        let kronrod: f64 = 2.0 * KRONROD[..7].iter().sum::<f64>() + KRONROD[7];
        let gauss: f64 = 2.0 * GAUSS[..3].iter().sum::<f64>() + GAUSS[3];
        assert!((kronrod - 2.0).abs() < 1e-15 && (gauss - 2.0).abs() < 1e-15);
        // K15 integrates polynomials up to degree 22 exactly, G7 up to 13.
        for degree in 0..=22 {
            let piece = rule(&mut |x: f64| [x.powi(degree)], 0.0, 1.0);
            let exact = 1.0 / f64::from(degree + 1);
            assert!((piece.value[0] - exact).abs() < 1e-14, "degree {degree}: {} vs {exact}", piece.value[0]);
            if degree <= 13 {
                assert!(piece.error[0] < 1e-14, "degree {degree}: G7 should be exact");
            }
        }
    }

    #[test]
    fn sharp_boundary_layers_and_vector_components() {
        // ∫₀¹⁰ e^{−1000 x} dx = (1 − e^{−10⁴})/1000, and its derivative in the rate.
        let rate = 1000.0;
        let result = integrate(|x: f64| [(-rate * x).exp(), -x * (-rate * x).exp()], 0.0, 10.0, 1e-12, 200);
        assert!(result.converged);
        assert!((result.value[0] * rate - 1.0).abs() < 1e-12, "{:?}", result.value);
        assert!((result.value[1] * rate * rate + 1.0).abs() < 1e-10, "{:?}", result.value);
    }

    #[test]
    fn the_cap_bounds_the_work() {
        let mut calls = 0;
        let result = integrate(
            |x: f64| {
                calls += 1;
                [x.abs().sqrt().recip()]
            },
            -1.0,
            1.0,
            1e-15,
            10,
        );
        assert!(!result.converged);
        assert!(calls <= 15 * (1 + 2 * 9), "{calls}");
    }
}
