//! The brand's measures: voice of the customer, social customer service, the effects
//! of engagement and of bad experiences, advocacy and programs — each with its 95%
//! interval and its sample size.
//!
//! The input is one [`timeline::Timeline`] per customer (every event of that customer,
//! already grouped and, for texts, already scored); [`headlines::Measures`] is a
//! mergeable accumulator over timelines (update / merge / finish), so the same code runs
//! on one core, on many, or on the partitions of a cluster, and the synthetic brand
//! computes its ground truth with exactly the definitions the estimates use. Nothing
//! here reads files or prints.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod geo;
pub mod headlines;
pub mod table;
pub mod timeline;

pub use headlines::{Headline, Measures, Settings};
pub use timeline::{
    Advocacy, Answer, CONVERSATION_GAP, Conversation, Cost, CustomerEvents, Engagement, Message, ProgramContact, Purchase, ThreadRow,
    Timeline, Tone, conversations,
};

/// Interaction rows at or above which a "customer" all of whose rows are outbound looks
/// like the brand or its agents (mapped as `customer_id`): `analyze` warns when such
/// writers hold half of all outbound rows.
pub const BRAND_LIKE_ROWS: u64 = 20;
