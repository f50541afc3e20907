//! Sentiment of customer text.
//!
//! [`vader`] is an exact port of Python vaderSentiment 3.3.2, checked value by value
//! on the VADER paper's corpora.

pub mod vader;

pub use vader::{Scores, Vader};
