//! The synthetic brand: reproducible from its seed, every file readable, the truth
//! computed.

use rapport_synth::{GenerateOptions, generate, ground_truth};

#[test]
fn the_same_seed_writes_the_same_brand() {
    let first = tempfile::tempdir().expect("temp");
    let second = tempfile::tempdir().expect("temp");
    let options =
        |output: &std::path::Path| GenerateOptions { customers: 500, seed: 7, output: output.to_path_buf(), truth_customers: 2_000 };
    let a = generate(&options(first.path()), &|_| {}).expect("generate");
    let b = generate(&options(second.path()), &|_| {}).expect("generate");
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.ground_truth, b.ground_truth);
    for (_, file) in rapport_synth::FILES {
        let left = std::fs::read(first.path().join(file)).expect("file");
        let right = std::fs::read(second.path().join(file)).expect("file");
        assert!(left == right, "{file} differs");
    }
    assert_eq!(a.rows["customers.csv"], 500);
    assert!(a.rows["purchases.csv"] > 500);
}

#[test]
fn the_truth_names_every_headline() {
    let truth = ground_truth(20_000);
    eprintln!("{truth:#?}");
    for name in [
        "nps",
        "csat",
        "ces",
        "first_response_hours_median",
        "resolution_rate",
        "recovery_rate",
        "deflection_rate",
        "engagement_basket_effect",
        "engagement_frequency_effect",
        "bad_experience_churn_effect",
        "recovered_spend_effect",
        "referred_customer_value",
        "uplift_spring_winback",
        "uplift_autumn_voucher",
    ] {
        assert!(truth.get(name).is_some_and(|value| value.is_finite()), "{name} missing: {truth:?}");
    }
}
