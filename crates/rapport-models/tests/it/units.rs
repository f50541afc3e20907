//! Time units: a model fitted in one unit predicts the same on data in another, and a
//! CLV does not depend on the unit the data are expressed in.

use rapport_core::table::Window;
use rapport_core::time::{MonthDefinition, TimeUnit};
use rapport_models::bgnbd::BgNbd;
use rapport_models::pareto::{FittedParetoNbd, ParetoNbdParams};
use rapport_models::{ClvOptions, FittedModel, FittedOn, ModelError, SavedModel, customer_lifetime_value};

use crate::{Customer, cdnow, close, count_data};

fn saved(model: FittedModel, unit: Option<TimeUnit>) -> SavedModel {
    SavedModel { model, fitted_on: FittedOn { customers: 2357.0, window: Window { time_unit: unit, ..Window::default() } } }
}

/// Every prediction of a weekly model on weekly data equals the converted model's on
/// the same data in days, to 1e-9 (relative).
#[test]
fn weekly_model_converted_to_days_predicts_the_same() {
    let weekly = FittedModel::BgNbd(BgNbd::new().fit(&crate::cdnow_counts()).expect("fit"));
    let pareto = FittedModel::ParetoNbd(
        FittedParetoNbd::from_params(ParetoNbdParams { r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 }).expect("params"),
    );
    for weekly in [weekly, pareto] {
        let daily = saved(weekly.clone(), Some(TimeUnit::Weeks)).for_unit(Some(TimeUnit::Days)).expect("convert");
        let (weeks, days) = (weekly.as_count_model().expect("count"), daily.as_count_model().expect("count"));
        let weekly_clv = ClvOptions::new(12, 0.01, TimeUnit::Weeks, MonthDefinition::Mean);
        let daily_clv = ClvOptions::new(12, 0.01, TimeUnit::Days, MonthDefinition::Mean);
        for (customer, _) in cdnow().iter().take(400) {
            let Customer { x, t_x, t, .. } = *customer;
            let pairs = [
                (weeks.p_alive(x, t_x, t), days.p_alive(x, 7.0 * t_x, 7.0 * t)),
                (weeks.expected_purchases(39.0, x, t_x, t), days.expected_purchases(273.0, x, 7.0 * t_x, 7.0 * t)),
                (
                    customer_lifetime_value(weeks, 50.0, x, t_x, t, &weekly_clv),
                    customer_lifetime_value(days, 50.0, x, 7.0 * t_x, 7.0 * t, &daily_clv),
                ),
            ];
            for (week, day) in pairs {
                assert!(close(day, week, 1e-9), "{}: {week} vs {day}", customer.id);
            }
        }
    }
}

/// Fitting on the same data expressed in days finds the converted weekly optimum (to the
/// optimiser's tolerance, not 1e-9: two fits stop at slightly different points).
#[test]
fn fitting_in_days_agrees_with_the_converted_weekly_fit() {
    let weekly = BgNbd::new().fit(&crate::cdnow_counts()).expect("fit weeks");
    let in_days: Vec<Customer> =
        cdnow().into_iter().map(|(customer, _)| Customer { t_x: customer.t_x * 7.0, t: customer.t * 7.0, ..customer }).collect();
    let daily = BgNbd::new().fit(&count_data(&in_days).expect("valid")).expect("fit days");
    assert!(close(daily.params.alpha, weekly.params.alpha * 7.0, 1e-4), "{} vs {}", daily.params.alpha, weekly.params.alpha * 7.0);
    for (got, want) in [(daily.params.r, weekly.params.r), (daily.params.a, weekly.params.a), (daily.params.b, weekly.params.b)] {
        assert!(close(got, want, 1e-4), "{got} vs {want}");
    }
}

/// A CLV month is the mean Gregorian month whatever the unit: 4.348125 weeks, 30.436875
/// days; lifetimes' constants only on request.
#[test]
fn one_month_for_every_unit() {
    assert!((TimeUnit::Weeks.per_month(MonthDefinition::Mean) - 30.436875 / 7.0).abs() < 1e-12);
    assert_eq!(TimeUnit::Days.per_month(MonthDefinition::Mean), 30.436875);
    assert!((TimeUnit::Hours.per_month(MonthDefinition::Mean) - 730.485).abs() < 1e-9);
    assert_eq!(TimeUnit::Weeks.per_month(MonthDefinition::Lifetimes), 4.345);
    assert_eq!(TimeUnit::Days.per_month(MonthDefinition::Lifetimes), 30.0);
}

/// A model whose unit is unknown is refused on data with a unit, naming both.
#[test]
fn unknown_unit_is_refused_with_both_units_named() {
    let model = FittedModel::BgNbd(BgNbd::new().fit(&crate::cdnow_counts()).expect("fit"));
    let error = saved(model.clone(), None).for_unit(Some(TimeUnit::Days)).expect_err("refused");
    assert!(matches!(error, ModelError::UnitMismatch { .. }));
    assert!(error.to_string().contains("an unknown unit") && error.to_string().contains("days"), "{error}");
    let error = saved(model, Some(TimeUnit::Weeks)).for_unit(None).expect_err("refused");
    assert!(error.to_string().contains("weeks") && error.to_string().contains("an unknown unit"), "{error}");
}

/// Saved models round-trip (version 2), and version 1 files still load with their unit.
#[test]
fn saved_models_round_trip_and_read_version_1() {
    let model = FittedModel::BgNbd(BgNbd::new().fit(&crate::cdnow_counts()).expect("fit"));
    let original = saved(model, Some(TimeUnit::Weeks));
    let back = SavedModel::from_json(&original.to_json()).expect("read");
    assert_eq!(back, original);
    let version_1 = original.to_json().replace("\"version\": 2", "\"version\": 1");
    let version_1: serde_json::Value = serde_json::from_str(&version_1).expect("json");
    let mut version_1 = version_1.as_object().expect("object").clone();
    version_1.remove("fitted_on");
    let back = SavedModel::from_json(&serde_json::Value::Object(version_1).to_string()).expect("read v1");
    assert_eq!(back.time_unit(), Some(TimeUnit::Weeks));
    assert_eq!(back.model, original.model);
    assert!(SavedModel::from_json(r#"{"format": "rapport-model", "version": 9, "fit": {}}"#).is_err());
}
