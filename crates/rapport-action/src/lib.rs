//! From measurement to action: RFM segments and clusters, relationship strength and the
//! Customer Matrix, computed from customer timelines and the customer table without I/O.
//! The engine runs them inside `analyze` and writes their columns and tables into the
//! results run.

pub mod alerts;
pub mod kmeans;
pub mod lapse;
pub mod matrix;
pub mod playbook;
pub mod propensity;
pub mod rank;
pub mod response;
pub mod rfm;
pub mod ror;
pub mod strength;
pub mod watch;
