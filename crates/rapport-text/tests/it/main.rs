//! VADER against Python vaderSentiment 3.3.2, text by text.

use std::path::PathBuf;

use rapport_text::Vader;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// Every text of the paper's tweet and Amazon corpora (data/reference/vader/
/// vader_3.3.2_outputs.csv, produced with vaderSentiment 3.3.2 from PyPI): compound
/// and neg/neu/pos within 1e-4 of Python's unrounded values, and the rounded values equal.
#[test]
fn compound_matches_vader_python_on_paper_corpora() {
    let vader = Vader::shared();
    let mut reader = csv::Reader::from_path(repo_file("data/reference/vader/vader_3.3.2_outputs.csv")).expect("open");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for record in reader.records() {
        let row = record.expect("row");
        let number = |index: usize| row[index].parse::<f64>().expect("number");
        let text = &row[11];
        let scores = vader.polarity_scores(text);
        let expected = [number(7), number(8), number(9), number(10)];
        let got = [scores.compound, scores.neg, scores.neu, scores.pos];
        let rounded = scores.rounded();
        if got.iter().zip(&expected).any(|(a, b)| (a - b).abs() > 1e-4)
            || rounded.compound != number(6)
            || rounded.neg != number(3)
            || rounded.neu != number(4)
            || rounded.pos != number(5)
        {
            mismatches.push(format!("{} {}: {text:?}: {got:?} vs {expected:?}", &row[0], &row[1]));
        }
        checked += 1;
    }
    assert_eq!(checked, 7908);
    assert!(mismatches.is_empty(), "{} mismatches, first: {:#?}", mismatches.len(), &mismatches[..mismatches.len().min(5)]);
}

/// The 137 edge cases of data/reference/vader/vader_3.3.2_edge_cases.tsv (negation,
/// "but", caps, emoji, punctuation, idioms, "no"): rounded values equal Python's.
#[test]
fn edge_cases_match_vader_python() {
    let vader = Vader::shared();
    // The file is tab-separated with CSV quoting (two texts hold a tab and a newline).
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b'\t').from_path(repo_file("data/reference/vader/vader_3.3.2_edge_cases.tsv")).expect("open");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for record in reader.records() {
        let row = record.expect("row");
        let input = &row[0];
        let expected: Vec<f64> = (1..5).map(|index| row[index].parse().expect("number")).collect();
        let scores = vader.polarity_scores(input).rounded();
        let got = [scores.neg, scores.neu, scores.pos, scores.compound];
        if got.iter().zip(&expected).any(|(a, b)| (a - b).abs() > 1e-4) {
            mismatches.push(format!("{input:?}: {got:?} vs {expected:?}"));
        }
        checked += 1;
    }
    assert!(checked >= 137, "{checked}");
    assert!(mismatches.is_empty(), "{} mismatches: {:#?}", mismatches.len(), mismatches);
}
