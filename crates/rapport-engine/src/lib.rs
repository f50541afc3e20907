//! The pipeline that turns inputs and workspaces into results: the one facade the
//! front ends (CLI, server, report) call.

pub mod clv;
pub mod demo;
pub mod error;
pub mod sentiment;
pub mod summary;
pub mod table;
pub mod topics;

pub use error::EngineError;

use rapport_core::summary::SummaryTable;
use table::{Column, Table};

/// The summary as a table with lifetimes' column names (`_cal` / `_holdout` for a split).
pub fn summary_table(summary: &SummaryTable) -> Table {
    into_summary_table(summary.clone())
}

/// [`summary_table`], moving the customer ids instead of copying them (a 100-million-row
/// summary has millions of ids; copying them raised the peak memory by a tenth).
pub fn into_summary_table(mut summary: SummaryTable) -> Table {
    let ids: Vec<String> = summary.customers.iter_mut().map(|row| std::mem::take(&mut row.customer_id)).collect();
    let customers = &summary.customers;
    let split = summary.options.calibration_end.is_some();
    let suffix = if split { "_cal" } else { "" };
    let mut table = Table::default();
    table.push("customer_id", Column::Text(ids));
    table.push(&format!("frequency{suffix}"), Column::Count(customers.iter().map(|row| u64::from(row.frequency)).collect()));
    table.push(&format!("recency{suffix}"), Column::Float(customers.iter().map(|row| row.recency).collect()));
    table.push(&format!("T{suffix}"), Column::Float(customers.iter().map(|row| row.t).collect()));
    if summary.options.monetary {
        table.push(&format!("monetary_value{suffix}"), Column::Float(customers.iter().map(|row| row.monetary_value).collect()));
    }
    if split {
        let holdout =
            |pick: fn(&rapport_core::summary::Holdout) -> f64| customers.iter().map(|row| row.holdout.as_ref().map_or(0.0, pick)).collect();
        table.push(
            "frequency_holdout",
            Column::Count(customers.iter().map(|row| row.holdout.map_or(0, |holdout| u64::from(holdout.frequency))).collect()),
        );
        if summary.options.monetary {
            table.push("monetary_value_holdout", Column::Float(holdout(|holdout| holdout.monetary_value)));
        }
        table.push("duration_holdout", Column::Float(holdout(|holdout| holdout.duration)));
    }
    table
}
