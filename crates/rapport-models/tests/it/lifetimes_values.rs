//! Value by value against lifetimes 0.11.3 at its fitted parameters
//! (data/reference/clv/lifetimes_0.11.3_cdnow_sample_all_customers.csv, 10 significant
//! digits; data/reference/clv/lifetimes_0.11.3_reference_values.csv). Relative error
//! ≤ 1e-6 (absolute 1e-12 near zero).

use std::collections::HashMap;

use rapport_models::bgbb::{BgBbParams, FittedBgBb};
use rapport_models::bgnbd::{BgNbdParams, FittedBgNbd, Variant};
use rapport_models::gamma_gamma::{FittedGammaGamma, GammaGammaParams};
use rapport_models::pareto::{FittedParetoNbd, ParetoNbdParams};
use rapport_models::{ClvOptions, CountModel, customer_lifetime_value};

use rapport_core::time::{MonthDefinition, TimeUnit};

use crate::read_csv;

const TOLERANCE: f64 = 1e-6;

/// The fitted parameters lifetimes reports for `model` (section `params`).
pub fn reference_param(model: &str) -> Vec<f64> {
    read_csv("data/reference/clv/lifetimes_0.11.3_reference_values.csv")
        .iter()
        .filter(|row| &row[0] == "params" && &row[1] == model)
        .map(|row| row[9].parse().expect("value"))
        .collect()
}

fn assert_close(what: &str, customer: &str, got: f64, expected: f64) {
    assert!(
        (got - expected).abs() <= TOLERANCE * expected.abs() || (got - expected).abs() <= 1e-12,
        "{what} of customer {customer}: {got} vs lifetimes {expected}"
    );
}

struct Models {
    bg: FittedBgNbd,
    mbg: FittedBgNbd,
    pareto: FittedParetoNbd,
    spend: FittedGammaGamma,
}

fn models() -> Models {
    let bg = reference_param("BG/NBD");
    let mbg = reference_param("MBG/NBD");
    let pareto = reference_param("Pareto/NBD");
    let spend = reference_param("GammaGamma");
    Models {
        bg: FittedBgNbd::from_params(Variant::Bg, BgNbdParams { r: bg[0], alpha: bg[1], a: bg[2], b: bg[3] }).expect("params"),
        mbg: FittedBgNbd::from_params(Variant::Mbg, BgNbdParams { r: mbg[0], alpha: mbg[1], a: mbg[2], b: mbg[3] }).expect("params"),
        pareto: FittedParetoNbd::from_params(ParetoNbdParams { r: pareto[0], alpha: pareto[1], s: pareto[2], beta: pareto[3] })
            .expect("params"),
        spend: FittedGammaGamma::from_params(GammaGammaParams { p: spend[0], q: spend[1], v: spend[2] }).expect("params"),
    }
}

#[test]
fn all_cdnow_customers_match_lifetimes_0_11_3() {
    let models = models();
    let mut reader =
        csv::Reader::from_path(crate::repo_file("data/reference/clv/lifetimes_0.11.3_cdnow_sample_all_customers.csv")).expect("open");
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    let column: HashMap<&str, usize> = header.iter().enumerate().map(|(index, name)| (name.as_str(), index)).collect();
    // lifetimes' months: 4.345 weeks, and 30 "days" for its freq='D' example on weekly data.
    let weeks = ClvOptions::new(12, 0.01, TimeUnit::Weeks, MonthDefinition::Lifetimes);
    let days = ClvOptions::new(12, 0.01, TimeUnit::Days, MonthDefinition::Lifetimes);
    let mut checked = 0;
    for record in reader.records() {
        let row = record.expect("row");
        let value = |name: &str| row[column[name]].parse::<f64>().expect(name);
        let id = &row[0];
        let (x, t_x, t, m) = (value("frequency"), value("recency"), value("T"), value("monetary_value"));
        for (prefix, model) in [("bgnbd", &models.bg as &dyn CountModel), ("mbgnbd", &models.mbg), ("pnbd", &models.pareto)] {
            assert_close(&format!("{prefix} p_alive"), id, model.p_alive(x, t_x, t), value(&format!("{prefix}_p_alive")));
            assert_close(
                &format!("{prefix} E[Y(39)]"),
                id,
                model.expected_purchases(39.0, x, t_x, t),
                value(&format!("{prefix}_cond_exp_purchases_t39")),
            );
            assert_close(
                &format!("{prefix} E[Y(52)]"),
                id,
                model.expected_purchases(52.0, x, t_x, t),
                value(&format!("{prefix}_cond_exp_purchases_t52")),
            );
        }
        let spend = models.spend.expected_average_spend(x, m);
        assert_close("expected average spend", id, spend, value("gg_cond_exp_avg_profit"));
        for (prefix, model) in [("bgnbd", &models.bg as &dyn CountModel), ("mbgnbd", &models.mbg), ("pnbd", &models.pareto)] {
            assert_close(
                &format!("{prefix} CLV weekly"),
                id,
                customer_lifetime_value(model, spend, x, t_x, t, &weeks),
                value(&format!("clv_gg_{prefix}_12m_d0.01_freqW")),
            );
            assert_close(
                &format!("{prefix} CLV freq=D"),
                id,
                customer_lifetime_value(model, spend, x, t_x, t, &days),
                value(&format!("clv_gg_{prefix}_12m_d0.01_freqD")),
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2357);
}

/// BG/BB predictions for every donations pattern (lifetimes' BetaGeoBetaBinomFitter).
#[test]
fn bg_bb_predictions_match_lifetimes_0_11_3() {
    let params = reference_param("BG/BB");
    let model =
        FittedBgBb::from_params(BgBbParams { alpha: params[0], beta: params[1], gamma: params[2], delta: params[3] }).expect("params");
    let mut checked = 0;
    for row in read_csv("data/reference/clv/lifetimes_0.11.3_reference_values.csv")
        .iter()
        .filter(|row| &row[0] == "customer" && &row[1] == "BG/BB")
    {
        let number = |index: usize| row[index].parse::<f64>().expect("number");
        let (x, t_x, n, expected) = (number(4), number(5), number(6), number(9));
        let got = match &row[2] {
            "p_alive(m_periods_in_future=0)" => model.p_alive(0.0, x, t_x, n),
            "cond_exp_purchases(m_periods_in_future=5)" => model.expected_purchases(5.0, x, t_x, n),
            other => panic!("unexpected quantity {other}"),
        };
        assert_close(&row[2], &row[3], got, expected);
        checked += 1;
    }
    assert_eq!(checked, 44);
}
