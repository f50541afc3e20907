//! Score every line of a file with Rapport's VADER and with vader-parity on one core
//! (and, for reference, Rapport's customer-service model);
//! check that the rounded scores agree and print texts per second for each
//! (median of --runs).
//!
//!     cargo run --release --manifest-path bench/vader-compare/Cargo.toml -- TEXTS.txt [RUNS]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: vader-compare TEXTS.txt [RUNS]");
    let runs: usize = args.next().map_or(5, |runs| runs.parse().expect("runs"));
    let text = std::fs::read_to_string(&path).expect("read");
    let texts: Vec<&str> = text.lines().collect();
    let ours = rapport_text::Vader::new();
    let theirs = vader_parity::SentimentIntensityAnalyzer::new();
    let mut disagreements = 0;
    for text in &texts {
        let a = ours.polarity_scores(text).rounded();
        let b = theirs.polarity_scores(text);
        if (a.neg, a.neu, a.pos, a.compound) != (b.neg, b.neu, b.pos, b.compound) {
            disagreements += 1;
            if disagreements <= 5 {
                eprintln!("disagree on {text:?}: rapport {a:?} vs vader-parity {b:?}");
            }
        }
    }
    let service = rapport_text::ServiceModel::new();
    let mut rapport_times = Vec::new();
    let mut parity_times = Vec::new();
    let mut service_times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut sink = 0.0;
        for text in &texts {
            sink += ours.polarity_scores(text).rounded().compound;
        }
        rapport_times.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        for text in &texts {
            sink += theirs.polarity_scores(text).compound;
        }
        parity_times.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        for text in &texts {
            sink += service.polarity_scores(text).rounded().compound;
        }
        service_times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(sink);
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (rapport, parity, service) = (median(&mut rapport_times), median(&mut parity_times), median(&mut service_times));
    println!("texts={} runs={runs} disagreements={disagreements}", texts.len());
    println!("rapport-text: {:.0} texts/s ({rapport:.3} s)", texts.len() as f64 / rapport);
    println!("vader-parity: {:.0} texts/s ({parity:.3} s)", texts.len() as f64 / parity);
    println!("rapport-text service model: {:.0} texts/s ({service:.3} s)", texts.len() as f64 / service);
    println!("ratio rapport / vader-parity: {:.2}×", parity / rapport);
}
