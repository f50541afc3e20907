//! Saved models: versioned JSON that records the unit and the data a model was fitted on.

use rapport_core::table::Window;
use rapport_core::time::TimeUnit;
use serde::{Deserialize, Serialize};

use crate::{FitReport, FittedModel, ModelError};

/// The data a model was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FittedOn {
    /// Customers (the sum of weights for weighted patterns).
    pub customers: f64,
    /// The window and time unit of their summary (`time_unit` is `None` for BG/BB's
    /// opportunities, Gamma-Gamma, or a summary file whose unit was not given).
    pub window: Window,
}

/// A fitted model with what it was fitted on: what `clv fit --save` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedModel {
    /// The model.
    pub model: FittedModel,
    /// Its data.
    pub fitted_on: FittedOn,
}

const FORMAT: &str = "rapport-model";
const VERSION: u32 = 2;

/// The JSON layout. Version 1 had only a `time_unit` string (`weeks`, `days`, …, or
/// `periods` / `unknown`); version 2 adds the data the model was fitted on.
#[derive(Debug, Serialize, Deserialize)]
struct Layout {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fitted_on: Option<FittedOn>,
    fit: FitReport,
}

impl SavedModel {
    /// The unit of the model's time parameters, when it has one.
    pub fn time_unit(&self) -> Option<TimeUnit> {
        self.fitted_on.window.time_unit
    }

    /// Serialise as versioned JSON.
    pub fn to_json(&self) -> String {
        let layout = Layout {
            format: FORMAT.into(),
            version: VERSION,
            time_unit: self.time_unit().map(|unit| unit.to_string()),
            fitted_on: Some(self.fitted_on),
            fit: self.model.report().clone(),
        };
        // A `Layout` holds only strings, numbers and plain structs: serialising it
        // cannot fail, and a non-finite number becomes `null` rather than an error.
        serde_json::to_string_pretty(&layout).unwrap_or_default()
    }

    /// Read a saved model (versions 1 and 2).
    pub fn from_json(text: &str) -> Result<SavedModel, ModelError> {
        let layout: Layout = serde_json::from_str(text).map_err(|error| {
            // A fit report (what a fit prints) has the parameters but not the model's
            // envelope; say so rather than name a missing field.
            let value: Option<serde_json::Value> = serde_json::from_str(text).ok();
            let is_report = value
                .as_ref()
                .is_some_and(|value| value.get("format").is_none() && value.get("params").is_some() && value.get("model").is_some());
            if is_report {
                ModelError::Persist(
                    "this is a fit report (the fit's printed output), not a saved model: save the model when fitting".into(),
                )
            } else {
                ModelError::Persist(error.to_string())
            }
        })?;
        if layout.format != FORMAT {
            return Err(ModelError::Persist(format!("not a Rapport model (format {:?})", layout.format)));
        }
        if !(1..=VERSION).contains(&layout.version) {
            return Err(ModelError::Persist(format!(
                "model format version {} is not supported (this Rapport reads versions 1 to {VERSION})",
                layout.version
            )));
        }
        let mut fitted_on = layout.fitted_on.unwrap_or(FittedOn { customers: layout.fit.n_customers, window: Window::default() });
        if fitted_on.window.time_unit.is_none() {
            fitted_on.window.time_unit = layout.time_unit.as_deref().and_then(|unit| unit.parse().ok());
        }
        Ok(SavedModel { model: FittedModel::from_report(&layout.fit)?, fitted_on })
    }

    /// The model for data whose time is in `unit`: converted when the model was fitted
    /// in another unit, refused when it cannot be (BG/BB counts opportunities; a model
    /// whose unit is unknown cannot be converted). Gamma-Gamma has no time.
    pub fn for_unit(&self, unit: Option<TimeUnit>) -> Result<FittedModel, ModelError> {
        if !self.model.kind().is_count_model() {
            return Ok(self.model.clone());
        }
        match (self.time_unit(), unit) {
            (Some(fitted), Some(data)) if fitted == data => Ok(self.model.clone()),
            (Some(fitted), Some(data)) => self.model.rescaled(fitted.seconds() / data.seconds()),
            (None, None) => Ok(self.model.clone()),
            (fitted, data) => Err(ModelError::UnitMismatch {
                fitted: fitted.map_or_else(|| "an unknown unit".into(), |unit| unit.to_string()),
                data: data.map_or_else(|| "an unknown unit".into(), |unit| unit.to_string()),
                reason: if fitted.is_none() {
                    "the model's unit was not recorded when it was fitted; refit it with the unit of its data".into()
                } else {
                    "give the unit of the data so that the model can be converted".into()
                },
            }),
        }
    }
}
