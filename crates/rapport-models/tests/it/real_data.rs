//! Real data: the Online Retail summaries (see `tests/data/README.md`), whose Pareto/NBD
//! optimum lies on the boundary, and degenerate logs where the data identify nothing.

use rapport_models::bgnbd::{BgNbd, BgNbdParams, FittedBgNbd, Variant};
use rapport_models::data::CountData;
use rapport_models::fit::FitOptions;
use rapport_models::pareto::{FittedParetoNbd, ParetoNbd, ParetoNbdParams};
use rapport_models::{CountModel, FittedModel, FittedOn, SavedModel};

fn fitted_name(model: &BgNbd) -> String {
    format!("{model:?}")
}

/// (customer, x, t_x, T) of a committed summary.
fn online_retail(unit: &str) -> CountData {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/online_retail_{unit}.csv"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let rows: Vec<(String, f64, f64, f64)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let number = |index: usize| fields[index].parse::<f64>().expect("number");
            (fields[0].to_string(), number(1), number(2), number(3))
        })
        .collect();
    assert_eq!(rows.len(), 4339);
    CountData::from_customers(rows.iter().map(|(id, x, t_x, t)| (id.as_str(), *x, *t_x, *t))).expect("valid")
}

/// lifetimes 0.11.3's estimates on the daily summary (`ParetoNBDFitter().fit`, defaults;
/// lifetimes' own log-likelihood there is NaN, from its t_x = T rows under scipy ≥ 1.17,
/// so both fits are compared under Rapport's likelihood, which handles those rows).
const LIFETIMES_PARETO_DAYS: ParetoNbdParams =
    ParetoNbdParams { r: 0.8274494284976717, alpha: 69.0769084469649, s: 3.146705170208973e-08, beta: 531.1444276584645 };
/// lifetimes 0.11.3's BG/NBD log-likelihood on the daily summary, at its estimates.
const LIFETIMES_BG_NBD_DAYS: f64 = -61829.584840169584;
/// … and MBG/NBD's.
const LIFETIMES_MBG_NBD_DAYS: f64 = -61829.68700719689;

#[test]
fn pareto_nbd_finishes_on_online_retail_at_least_as_well_as_lifetimes() {
    let data = online_retail("days");
    let fitted = ParetoNbd.fit(&data).expect("fit");
    let theirs = FittedParetoNbd::from_params(LIFETIMES_PARETO_DAYS).expect("params").log_likelihood(&data);
    let ours = fitted.report.log_likelihood;
    // At least lifetimes' log-likelihood, to the optimiser's tolerance (1e-9 relative).
    assert!(ours >= theirs - 1e-9 * theirs.abs(), "ours {ours} vs lifetimes {theirs}");
    assert!(fitted.report.iterations < 200, "{}", fitted.report.iterations);
    // The boundary is reported, and its parameters carry no made-up intervals.
    assert!(fitted.report.not_identified.iter().any(|name| name.starts_with('s')), "{:?}", fitted.report.not_identified);
    for (index, name) in fitted.report.names.iter().enumerate() {
        let reported = fitted.report.not_identified.iter().any(|entry| entry.split(' ').next() == Some(name));
        assert_eq!(fitted.report.std_errors[index].is_nan(), reported, "{name}: {:?}", fitted.report);
    }
    // Predictions stay finite for every customer.
    for row in data.rows() {
        let (alive, expected) = (fitted.p_alive(row.x, row.t_x, row.t), fitted.expected_purchases(30.0, row.x, row.t_x, row.t));
        assert!(alive.is_finite() && expected.is_finite(), "{row:?}");
    }
}

#[test]
fn pareto_nbd_weekly_online_retail_finishes() {
    let fitted = ParetoNbd.fit(&online_retail("weeks")).expect("fit");
    assert!(fitted.report.log_likelihood.is_finite());
    assert!(fitted.report.iterations < 200);
}

#[test]
fn bg_nbd_and_mbg_nbd_reach_lifetimes_on_online_retail() {
    let data = online_retail("days");
    for (model, theirs) in [(BgNbd::new(), LIFETIMES_BG_NBD_DAYS), (BgNbd::modified(), LIFETIMES_MBG_NBD_DAYS)] {
        let ours = model.fit(&data).expect("fit").report.log_likelihood;
        assert!(ours >= theirs - 1e-9 * theirs.abs(), "{}: ours {ours} vs lifetimes {theirs}", fitted_name(&model));
    }
}

/// Every customer bought once: the data say nothing about repeat buying. The fit says
/// so, reports no intervals for what it cannot identify, still saves and loads, and a
/// penalty gives a model that predicts.
#[test]
fn every_customer_bought_once() {
    let rows: Vec<(String, f64)> = (0..300).map(|index| (index.to_string(), 10.0 + f64::from(index % 40))).collect();
    let data = CountData::from_customers(rows.iter().map(|(id, t)| (id.as_str(), 0.0, 0.0, *t))).expect("valid");
    for model in [BgNbd::new(), BgNbd::modified()] {
        let fitted = model.fit(&data).expect("fit");
        assert!(!fitted.report.not_identified.is_empty(), "{}: {:?}", fitted_name(&model), fitted.report);
        assert!(fitted.report.std_errors.iter().any(|error| error.is_nan()));
        assert!(fitted.report.intervals.iter().all(|(low, high)| low.is_nan() || (low.is_finite() && high.is_finite() && high < &1e12)));
        let saved = SavedModel { model: FittedModel::BgNbd(fitted.clone()), fitted_on: FittedOn::default() };
        let text = saved.to_json();
        assert!(text.contains("null"), "absent standard errors are written as null");
        let loaded = SavedModel::from_json(&text).expect("a model with absent standard errors loads");
        assert_eq!(loaded.model.report().not_identified, fitted.report.not_identified);
        let penalized = model.fit_with(&data, &FitOptions { penalizer: 0.01 }).expect("penalized fit");
        assert_eq!(penalized.report.penalizer, 0.01);
        let expected = penalized.expected_purchases(30.0, 0.0, 0.0, 20.0);
        assert!(expected.is_finite() && expected >= 0.0, "{}: {expected}", fitted_name(&model));
    }
}

/// The unpenalised optimum of a single-purchase log sits at r → 0; predicting there
/// gives an error rather than blank numbers (see the engine's and CLI's tests); here the
/// model itself, at a = 1 exactly, still predicts.
#[test]
fn bg_nbd_at_a_equal_to_one_predicts() {
    let model = FittedBgNbd::from_params(Variant::Bg, BgNbdParams { r: 0.03, alpha: 4.2, a: 1.0, b: 1.0 }).expect("model");
    assert!(model.expected_purchases(30.0, 0.0, 0.0, 20.0).is_finite());
}

/// Refunds can make a repeat buyer's purchases net to zero or less (9 customers of the
/// Online Retail log): they are left out of the spend model and counted, not an error.
#[test]
fn repeat_buyers_netting_to_zero_or_less_are_left_out_of_gamma_gamma() {
    use rapport_models::data::SpendData;
    let data =
        SpendData::new([("a", 2.0, 10.0), ("b", 3.0, -302.75), ("c", 1.0, -4e-13), ("d", 0.0, 0.0), ("e", 4.0, 12.5)]).expect("valid");
    assert_eq!((data.customers(), data.net_non_positive()), (2.0, 2));
    assert!(SpendData::new([("a", 2.0, f64::NAN)]).is_err(), "a spend that is not a number is still an error");
}
