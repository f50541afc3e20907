//! Interval calibration of every headline without files: draws brands straight from
//! their stories (the timelines the analysis of the written files reproduces exactly, as
//! the engine's tests check), folds them with the analysis' definitions, and compares,
//! per headline, the spread of the estimates over seeds with the spread the intervals
//! claim, and counts the intervals that cover the truth.
//!
//! ```sh
//! cargo run --release -p rapport-synth --example calibration -- CUSTOMERS FIRST_SEED SEEDS
//! ```

use rayon::prelude::*;
use std::collections::BTreeMap;

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).map(|argument| argument.parse().expect("a whole number")).collect();
    let [customers, first, seeds] = arguments[..] else {
        eprintln!("usage: calibration CUSTOMERS FIRST_SEED SEEDS");
        std::process::exit(2);
    };
    let settings = rapport_synth::truth_settings();
    eprintln!("computing the ground truth ({} customers)", rapport_synth::TRUTH_CUSTOMERS);
    let truth = rapport_synth::ground_truth(rapport_synth::TRUTH_CUSTOMERS);
    let brands: Vec<BTreeMap<String, rapport_measures::Headline>> = (first..first + seeds)
        .into_par_iter()
        .map(|seed| {
            let made = rapport_synth::referrals_made(seed, customers);
            let mut measures = rapport_measures::Measures::default();
            for index in 0..customers {
                let mut timeline = rapport_synth::story::story(seed, index, customers).timeline(settings.zone);
                rapport_synth::add_referrals(&mut timeline, made.get(&index).map_or(&[], Vec::as_slice));
                measures.update(&timeline, &settings);
            }
            measures.headlines(&settings, rapport_synth::CURRENCY).0
        })
        .collect();
    println!("headline\ttruth\tmean_estimate\tsd_estimate\tsd_claimed\tratio\tcovered\tbrands");
    for (name, value) in &truth {
        let rows: Vec<(f64, f64, f64)> = brands
            .iter()
            .filter_map(|brand| brand.get(name))
            .filter_map(|headline| Some((headline.estimate, headline.lower?, headline.upper?)))
            .collect();
        let n = rows.len() as f64;
        if rows.len() < 2 {
            continue;
        }
        let mean = rows.iter().map(|row| row.0).sum::<f64>() / n;
        let sd = (rows.iter().map(|row| (row.0 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        // The standard error a 95% interval claims: its half-width over 1.96.
        let claimed = rows.iter().map(|row| (row.2 - row.1) / 2.0 / 1.959_964).sum::<f64>() / n;
        let covered = rows.iter().filter(|row| row.1 <= *value && *value <= row.2).count();
        println!("{name}\t{value:.4}\t{mean:.4}\t{sd:.4}\t{claimed:.4}\t{:.2}\t{covered}\t{}", sd / claimed, rows.len());
    }
}
