//! Customer clusters: k-means on standardised features, k chosen by silhouette.
//!
//! Written here rather than taken from `linfa-clustering`: the algorithm is Lloyd's
//! iteration over a handful of dense columns, and linfa would bring `ndarray` and a second
//! `rand` generation into every build for it. What matters for users is kept explicit:
//! the result is deterministic for a seed (k-means++ seeding from ChaCha8, then Lloyd's
//! iterations, which are deterministic), and k is chosen by the mean silhouette of a
//! fixed sample, so a million customers cost one O(sample²) silhouette per k.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Points, row-major: `values[i * dims .. (i + 1) * dims]`.
#[derive(Debug, Clone)]
pub struct Points {
    /// The coordinates.
    pub values: Vec<f64>,
    /// Coordinates per point.
    pub dims: usize,
}

impl Points {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn point(&self, index: usize) -> &[f64] {
        &self.values[index * self.dims..(index + 1) * self.dims]
    }

    /// Standardise every column to mean 0 and standard deviation 1 (a constant column
    /// becomes 0).
    pub fn standardised(&self) -> Points {
        let n = self.len().max(1) as f64;
        let mut values = self.values.clone();
        for dim in 0..self.dims {
            let column = || (0..self.len()).map(|i| self.values[i * self.dims + dim]);
            let mean = column().sum::<f64>() / n;
            let sd = (column().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            for i in 0..self.len() {
                let value = &mut values[i * self.dims + dim];
                *value = if sd > 0.0 { (*value - mean) / sd } else { 0.0 };
            }
        }
        Points { values, dims: self.dims }
    }
}

fn distance2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// A fitted clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// Number of clusters.
    pub k: usize,
    /// Each point's cluster, 0-based.
    pub labels: Vec<usize>,
    /// Centroids, row-major (standardised space).
    pub centroids: Vec<f64>,
    /// Mean silhouette of the sample at this k.
    pub silhouette: f64,
    /// The silhouette of every k tried, `(k, silhouette)`.
    pub tried: Vec<(usize, f64)>,
}

/// k-means with k-means++ seeding and Lloyd's iterations (at most 100, or until no point
/// changes cluster).
pub fn kmeans(points: &Points, k: usize, seed: u64) -> (Vec<usize>, Vec<f64>) {
    let n = points.len();
    let dims = points.dims;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centroids: Vec<f64> = Vec::with_capacity(k * dims);
    let first = rng.random_range(0..n);
    centroids.extend_from_slice(points.point(first));
    let mut nearest: Vec<f64> = (0..n).into_par_iter().map(|i| distance2(points.point(i), points.point(first))).collect();
    while centroids.len() < k * dims {
        let total: f64 = nearest.iter().sum();
        let chosen = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            let mut chosen = n - 1;
            for (i, d) in nearest.iter().enumerate() {
                if target < *d {
                    chosen = i;
                    break;
                }
                target -= d;
            }
            chosen
        } else {
            rng.random_range(0..n)
        };
        let centre = points.point(chosen).to_vec();
        nearest.par_iter_mut().enumerate().for_each(|(i, d)| *d = d.min(distance2(points.point(i), &centre)));
        centroids.extend_from_slice(&centre);
    }
    let mut labels = vec![usize::MAX; n];
    for _ in 0..100 {
        let assigned: Vec<usize> = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..k)
                    .map(|c| (c, distance2(points.point(i), &centroids[c * dims..(c + 1) * dims])))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(c, _)| c)
            })
            .collect();
        let changed = assigned != labels;
        labels = assigned;
        let mut sums = vec![0.0; k * dims];
        let mut counts = vec![0_usize; k];
        for (i, &label) in labels.iter().enumerate() {
            counts[label] += 1;
            for (sum, value) in sums[label * dims..(label + 1) * dims].iter_mut().zip(points.point(i)) {
                *sum += value;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for d in 0..dims {
                    centroids[c * dims + d] = sums[c * dims + d] / counts[c] as f64;
                }
            }
        }
        if !changed {
            break;
        }
    }
    (labels, centroids)
}

/// Mean silhouette of the points at `sample` (indices) under `labels`.
pub fn silhouette(points: &Points, labels: &[usize], k: usize, sample: &[usize]) -> f64 {
    let scores: Vec<f64> = sample
        .par_iter()
        .map(|&i| {
            let mut sums = vec![0.0; k];
            let mut counts = vec![0_usize; k];
            for &j in sample {
                if j != i {
                    sums[labels[j]] += distance2(points.point(i), points.point(j)).sqrt();
                    counts[labels[j]] += 1;
                }
            }
            let own = labels[i];
            if counts[own] == 0 {
                return 0.0;
            }
            let a = sums[own] / counts[own] as f64;
            let b = (0..k).filter(|&c| c != own && counts[c] > 0).map(|c| sums[c] / counts[c] as f64).fold(f64::INFINITY, f64::min);
            if !b.is_finite() || a.max(b) == 0.0 { 0.0 } else { (b - a) / a.max(b) }
        })
        .collect();
    scores.iter().sum::<f64>() / scores.len().max(1) as f64
}

/// Points chosen for choosing k: with more than this many points, k is chosen on a fixed
/// random subset of this size, and only the chosen k is fitted on every point.
pub const SELECTION_POINTS: usize = 50_000;

/// Cluster standardised points with k from `ks` chosen by the highest mean silhouette on
/// a fixed sample of at most `sample_size` points (ties to the smaller k). With more than
/// [`SELECTION_POINTS`] points, each k is tried on a fixed subset of that many and the
/// chosen one refitted on all. `None` with fewer points than the smallest k + 1.
pub fn cluster(points: &Points, ks: std::ops::RangeInclusive<usize>, sample_size: usize, seed: u64) -> Option<Clustering> {
    let n = points.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5117_0e77);
    let subset: Option<Points> = (n > SELECTION_POINTS).then(|| {
        let mut chosen = rand::seq::index::sample(&mut rng, n, SELECTION_POINTS).into_vec();
        chosen.sort_unstable();
        Points { values: chosen.iter().flat_map(|&i| points.point(i).iter().copied()).collect(), dims: points.dims }
    });
    let selection = subset.as_ref().unwrap_or(points);
    let m = selection.len();
    let sample: Vec<usize> =
        if m <= sample_size { (0..m).collect() } else { rand::seq::index::sample(&mut rng, m, sample_size).into_vec() };
    let mut best: Option<(usize, f64)> = None;
    let mut fitted: Option<(Vec<usize>, Vec<f64>)> = None;
    let mut tried = Vec::new();
    for k in ks {
        if m <= k {
            break;
        }
        let (labels, centroids) = kmeans(selection, k, seed.wrapping_add(k as u64));
        let score = silhouette(selection, &labels, k, &sample);
        tried.push((k, score));
        if best.is_none_or(|(_, best)| score > best + 1e-12) {
            best = Some((k, score));
            fitted = Some((labels, centroids));
        }
    }
    let (k, score) = best?;
    let (labels, centroids) = match subset {
        Some(_) => kmeans(points, k, seed.wrapping_add(k as u64)),
        None => fitted?,
    };
    Some(Clustering { k, labels, centroids, silhouette: score, tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(centres: &[(f64, f64)], per: usize, seed: u64) -> Points {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values = Vec::new();
        for &(x, y) in centres {
            for _ in 0..per {
                values.push(x + rng.random::<f64>() - 0.5);
                values.push(y + rng.random::<f64>() - 0.5);
            }
        }
        Points { values, dims: 2 }
    }

    #[test]
    fn separated_blobs_are_found_with_their_k() {
        let points = blobs(&[(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)], 200, 1).standardised();
        let clustering = cluster(&points, 2..=8, 500, 42).expect("clusters");
        assert_eq!(clustering.k, 4, "{:?}", clustering.tried);
        // Every blob is one cluster.
        for blob in 0..4 {
            let labels = &clustering.labels[blob * 200..(blob + 1) * 200];
            assert!(labels.iter().all(|&label| label == labels[0]));
        }
        assert!(clustering.silhouette > 0.8);
    }

    #[test]
    fn the_same_seed_gives_the_same_clusters() {
        let points = blobs(&[(0.0, 0.0), (3.0, 1.0), (1.0, 4.0)], 300, 7).standardised();
        assert_eq!(cluster(&points, 2..=6, 400, 9), cluster(&points, 2..=6, 400, 9));
    }

    #[test]
    fn many_points_choose_k_on_a_subset_and_fit_all() {
        let points = blobs(&[(0.0, 0.0), (8.0, 0.0), (0.0, 8.0)], 20_000, 3).standardised();
        let clustering = cluster(&points, 2..=5, 500, 1).expect("clusters");
        assert_eq!((clustering.k, clustering.labels.len()), (3, 60_000));
        for blob in 0..3 {
            let labels = &clustering.labels[blob * 20_000..(blob + 1) * 20_000];
            assert!(labels.iter().all(|&label| label == labels[0]));
        }
    }

    #[test]
    fn too_few_points_give_no_clusters() {
        let points = Points { values: vec![1.0, 2.0], dims: 1 };
        assert!(cluster(&points, 2..=8, 100, 1).is_none());
    }
}
