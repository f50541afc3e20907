//! Sentiment of customer text.
//!
//! [`vader`] is an exact port of Python vaderSentiment 3.3.2, checked value by value
//! on the VADER paper's corpora. [`service`] is the customer-service model built on it,
//! the default for customer text.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod service;
pub mod topics;
pub mod vader;

pub use service::ServiceModel;
pub use vader::{Scores, Vader};

/// Which sentiment model scores a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SentimentModel {
    /// Exact vaderSentiment 3.3.2.
    Vader,
    /// VADER with the customer-service rules of [`service`].
    #[default]
    Service,
}

impl SentimentModel {
    /// `neg, neu, pos, compound`, unrounded.
    pub fn polarity_scores(self, text: &str) -> Scores {
        match self {
            SentimentModel::Vader => Vader::shared().polarity_scores(text),
            SentimentModel::Service => ServiceModel::shared().polarity_scores(text),
        }
    }

    /// The model's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SentimentModel::Vader => "vader",
            SentimentModel::Service => "service",
        }
    }
}
