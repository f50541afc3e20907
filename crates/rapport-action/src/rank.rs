//! Scores from ranks: SQL's `PERCENT_RANK` and the quantile bands built on it.

/// `PERCENT_RANK` of every value, ascending: `(rank − 1) / (n − 1)` with `rank` the
/// lowest rank among ties (1 + the number of strictly smaller values); 0 when n = 1.
/// Returned as the pair `(rank − 1, n − 1)` so that scores can be computed in integers.
pub fn percent_ranks<T: Ord + Copy>(values: &[T]) -> Vec<(usize, usize)> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|&index| values[index]);
    let mut ranks = vec![(0, n.saturating_sub(1)); n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && values[order[end]] == values[order[start]] {
            end += 1;
        }
        for &index in &order[start..end] {
            ranks[index].0 = start;
        }
        start = end;
    }
    ranks
}

/// The band (1 … `bands`) of each value: `min(bands, 1 + floor(bands × percent_rank))`,
/// ascending; ties share a band; every value gets the middle band when n = 1 (for 5 bands,
/// 3). Computed in integers, so no rounding moves a value across a band edge.
pub fn bands<T: Ord + Copy>(values: &[T], bands: u32) -> Vec<u32> {
    let bands = bands.max(1);
    if values.len() == 1 {
        return vec![bands.div_ceil(2)];
    }
    percent_ranks(values)
        .into_iter()
        .map(|(below, last)| {
            let band = 1 + (u64::from(bands) * below as u64 / last as u64) as u32;
            band.min(bands)
        })
        .collect()
}

/// A total order on finite floats for ranking (NaN last).
#[derive(Debug, Clone, Copy)]
pub struct Ranked(pub f64);

impl PartialEq for Ranked {
    fn eq(&self, other: &Ranked) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Ranked) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Mid-rank percentile of each value in (0, 1): `(rank_low + rank_high) / 2 / n`, ties
/// sharing one value; used to put factors on a common 0–1 scale.
pub fn mid_percentiles(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && values[order[end]].total_cmp(&values[order[start]]).is_eq() {
            end += 1;
        }
        let value = (start + end) as f64 / 2.0 / n as f64;
        for &index in &order[start..end] {
            out[index] = value;
        }
        start = end;
    }
    out
}

/// Spearman's rank correlation (Pearson's on mid-ranks); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (mid_percentiles(a), mid_percentiles(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percent_rank_gives_ties_the_lowest_rank() {
        // SQL: PERCENT_RANK() OVER (ORDER BY v) for 10, 20, 20, 30 is 0, 1/3, 1/3, 1.
        assert_eq!(percent_ranks(&[20, 10, 30, 20]), vec![(1, 3), (0, 3), (3, 3), (1, 3)]);
        assert_eq!(percent_ranks(&[7]), vec![(0, 0)]);
    }

    #[test]
    fn bands_follow_the_rule() {
        // n = 6: percent ranks 0, .2, .4, .6, .8, 1 → 1 + floor(5 × pr) = 1, 2, 3, 4, 5, 6 → capped at 5.
        assert_eq!(bands(&[1, 2, 3, 4, 5, 6], 5), vec![1, 2, 3, 4, 5, 5]);
        assert_eq!(bands(&[5, 5, 5], 5), vec![1, 1, 1]);
        assert_eq!(bands(&[42], 5), vec![3]);
        assert_eq!(bands(&[1, 2], 5), vec![1, 5]);
    }

    proptest! {
        #[test]
        fn bands_are_monotone_and_ties_agree(values in proptest::collection::vec(0_i64..20, 1..200), k in 1_u32..10) {
            let banded = bands(&values, k);
            for i in 0..values.len() {
                prop_assert!((1..=k).contains(&banded[i]));
                for j in 0..values.len() {
                    if values[i] == values[j] { prop_assert_eq!(banded[i], banded[j]); }
                    if values[i] < values[j] { prop_assert!(banded[i] <= banded[j]); }
                }
            }
        }

        #[test]
        fn mid_percentiles_are_inside_zero_one(values in proptest::collection::vec(-1e6_f64..1e6, 1..100)) {
            for p in mid_percentiles(&values) { prop_assert!(p > 0.0 && p < 1.0); }
        }
    }
}
