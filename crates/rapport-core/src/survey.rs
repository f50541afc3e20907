//! Survey types and their scales: NPS (0–10), CSAT (1–5), CES (1–7).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The kind of a survey answer, which fixes its scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyType {
    /// Net Promoter Score: "how likely are you to recommend us", whole numbers 0–10
    /// (Reichheld 2003): 9–10 promoters, 7–8 passives, 0–6 detractors.
    Nps,
    /// Customer satisfaction, 1–5.
    Csat,
    /// Customer effort score, 1–7.
    Ces,
}

/// The range of answers a survey type allows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Lowest answer.
    pub low: f64,
    /// Highest answer.
    pub high: f64,
    /// Whether only whole numbers are answers.
    pub whole: bool,
}

impl Scale {
    /// Whether `score` is an answer on this scale.
    pub fn contains(&self, score: f64) -> bool {
        score.is_finite() && (self.low..=self.high).contains(&score) && (!self.whole || score.fract() == 0.0)
    }
}

impl SurveyType {
    /// Every survey type.
    pub const ALL: [SurveyType; 3] = [SurveyType::Nps, SurveyType::Csat, SurveyType::Ces];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SurveyType::Nps => "nps",
            SurveyType::Csat => "csat",
            SurveyType::Ces => "ces",
        }
    }

    /// The scale of the answers.
    pub fn scale(self) -> Scale {
        match self {
            SurveyType::Nps => Scale { low: 0.0, high: 10.0, whole: true },
            SurveyType::Csat => Scale { low: 1.0, high: 5.0, whole: false },
            SurveyType::Ces => Scale { low: 1.0, high: 7.0, whole: false },
        }
    }
}

impl FromStr for SurveyType {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        SurveyType::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| CoreError::invalid(text, "a survey type: nps, csat or ces"))
    }
}

impl std::fmt::Display for SurveyType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert!(SurveyType::Nps.scale().contains(0.0) && SurveyType::Nps.scale().contains(10.0));
        assert!(!SurveyType::Nps.scale().contains(7.5));
        assert!(SurveyType::Csat.scale().contains(4.5) && !SurveyType::Csat.scale().contains(0.0));
        assert!(!SurveyType::Ces.scale().contains(8.0) && !SurveyType::Ces.scale().contains(f64::NAN));
        assert_eq!("NPS".parse::<SurveyType>(), Ok(SurveyType::Nps));
        assert!("net".parse::<SurveyType>().is_err());
    }
}
