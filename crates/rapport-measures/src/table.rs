//! A small column table: how the measures hand a breakdown to the store, which writes
//! it as Parquet, without this crate depending on Arrow.

use serde::Serialize;

/// One column's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Values {
    /// Text (missing as `None`).
    Text(Vec<Option<String>>),
    /// Numbers (missing as NaN).
    Number(Vec<f64>),
    /// Counts.
    Count(Vec<u64>),
    /// Whole numbers that can be negative (a direction: −1, 0, +1).
    Integer(Vec<i64>),
    /// Yes or no.
    Flag(Vec<bool>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(values) => values.len(),
            Values::Number(values) => values.len(),
            Values::Count(values) => values.len(),
            Values::Integer(values) => values.len(),
            Values::Flag(values) => values.len(),
        }
    }
}

/// A named table of equally long columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The table's name (its file is `<name>.parquet`).
    pub name: String,
    /// Columns in order.
    pub columns: Vec<(String, Values)>,
}

impl Table {
    /// An empty table.
    pub fn new(name: &str) -> Table {
        Table { name: name.to_string(), columns: Vec::new() }
    }

    /// Add a column; every column must have as many values as the first.
    pub fn column(mut self, name: &str, values: Values) -> Table {
        debug_assert!(self.columns.first().is_none_or(|(_, first)| first.len() == values.len()), "column {name}");
        self.columns.push((name.to_string(), values));
        self
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, values)| values.len())
    }
}
