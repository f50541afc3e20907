//! Which model, by name, and fitting any of them on a customer table.

use std::str::FromStr;

use rapport_core::table::CustomerTable;
use serde::{Deserialize, Serialize};

use crate::bgbb::BgBb;
use crate::bgnbd::BgNbd;
use crate::data::{CountData, DiscreteData, SpendData};
use crate::fit::FitOptions;
use crate::gamma_gamma::GammaGamma;
use crate::pareto::ParetoNbd;
use crate::{FittedModel, ModelError};

/// The lifetime-value models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// BG/NBD (Fader, Hardie & Lee 2005).
    BgNbd,
    /// MBG/NBD (Batislam, Denizel & Filiztekin 2007).
    MbgNbd,
    /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987).
    ParetoNbd,
    /// BG/BB for discrete opportunities (Fader, Hardie & Shang 2010).
    BgBb,
    /// Gamma-Gamma spend (Fader, Hardie & Lee 2005b).
    GammaGamma,
}

impl ModelKind {
    /// Every model.
    pub const ALL: [ModelKind; 5] = [ModelKind::BgNbd, ModelKind::MbgNbd, ModelKind::ParetoNbd, ModelKind::BgBb, ModelKind::GammaGamma];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::BgNbd => "bg-nbd",
            ModelKind::MbgNbd => "mbg-nbd",
            ModelKind::ParetoNbd => "pareto-nbd",
            ModelKind::BgBb => "bg-bb",
            ModelKind::GammaGamma => "gamma-gamma",
        }
    }

    /// Whether it predicts purchases in continuous time (BG/NBD, MBG/NBD, Pareto/NBD).
    pub fn is_count_model(self) -> bool {
        matches!(self, ModelKind::BgNbd | ModelKind::MbgNbd | ModelKind::ParetoNbd)
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, ModelError> {
        match text.to_ascii_lowercase().replace(['/', '_'], "-").as_str() {
            "bg-nbd" | "bgnbd" => Ok(ModelKind::BgNbd),
            "mbg-nbd" | "mbgnbd" => Ok(ModelKind::MbgNbd),
            "pareto-nbd" | "paretonbd" | "pnbd" => Ok(ModelKind::ParetoNbd),
            "bg-bb" | "bgbb" => Ok(ModelKind::BgBb),
            "gamma-gamma" | "gg" => Ok(ModelKind::GammaGamma),
            _ => Err(ModelError::Persist(format!("unknown model {text:?}: expected bg-nbd, mbg-nbd, pareto-nbd, bg-bb or gamma-gamma"))),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Fit a model by maximum likelihood on the customers of a table.
pub fn fit(kind: ModelKind, table: &CustomerTable) -> Result<FittedModel, ModelError> {
    fit_with(kind, table, &FitOptions::default())
}

/// [`fit`] with options (a penalty on the log-parameters).
pub fn fit_with(kind: ModelKind, table: &CustomerTable, options: &FitOptions) -> Result<FittedModel, ModelError> {
    Ok(match kind {
        ModelKind::BgNbd => FittedModel::BgNbd(BgNbd::new().fit_with(&CountData::from_table(table)?, options)?),
        ModelKind::MbgNbd => FittedModel::BgNbd(BgNbd::modified().fit_with(&CountData::from_table(table)?, options)?),
        ModelKind::ParetoNbd => FittedModel::ParetoNbd(ParetoNbd.fit_with(&CountData::from_table(table)?, options)?),
        ModelKind::BgBb => FittedModel::BgBb(BgBb.fit_with(&DiscreteData::from_table(table)?, options)?),
        ModelKind::GammaGamma => FittedModel::GammaGamma(GammaGamma.fit_with(&SpendData::from_table(table)?, options)?),
    })
}
