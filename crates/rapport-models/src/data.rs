//! Model inputs: per-customer (x, t_x, T) and spend, validated and compressed to
//! weighted unique rows so that millions of customers cost little to fit.

use std::collections::HashMap;

/// A fast, fixed-seed hasher for the row-compression maps (SipHash was a tenth of a
/// million-customer fit).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use rapport_core::table::CustomerTable;

use crate::ModelError;

/// Validate one customer's (x, t_x, T); the id is copied only into the error.
pub fn validate_customer(id: &str, x: f64, t_x: f64, t: f64) -> Result<(), ModelError> {
    check(x, t_x, t).map_err(|reason| ModelError::InvalidCustomer { customer: id.to_string(), reason })
}

/// Why (x, t_x, T) is not a valid customer, if it is not.
fn check(x: f64, t_x: f64, t: f64) -> Result<(), String> {
    if !(x.is_finite() && t_x.is_finite() && t.is_finite()) {
        return Err(format!("frequency, recency and T must be finite numbers (got {x}, {t_x}, {t})"));
    }
    if x < 0.0 || x.fract() != 0.0 {
        return Err(format!("frequency must be a whole number ≥ 0 (got {x})"));
    }
    if t_x < 0.0 || t < 0.0 {
        return Err(format!("recency and T must be ≥ 0 (got recency {t_x}, T {t})"));
    }
    if t_x > t {
        return Err(format!("recency {t_x} is after T {t}"));
    }
    if x == 0.0 && t_x != 0.0 {
        return Err(format!("recency must be 0 when frequency is 0 (got {t_x})"));
    }
    Ok(())
}

/// A weighted unique (x, t_x, T) row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Repeat purchases.
    pub x: f64,
    /// Time of the last purchase.
    pub t_x: f64,
    /// Age at the end of observation.
    pub t: f64,
    /// How many customers share it.
    pub weight: f64,
}

/// Validated, compressed count data for BG/NBD, MBG/NBD and Pareto/NBD.
#[derive(Debug, Clone, PartialEq)]
pub struct CountData {
    rows: Vec<Row>,
    customers: f64,
    /// The distinct values of x, and for each row the index of its x: terms that depend
    /// on x alone (log-gammas, digammas) are computed once per distinct x, not per row.
    distinct_x: Vec<f64>,
    x_index: Vec<u32>,
}

/// The x, t_x and T columns of a customer table.
type CountColumns<'a> = (&'a [f64], &'a [f64], &'a [f64]);

/// The (x, t_x, T) columns of a customer table, or the error naming the missing one.
fn count_columns(table: &CustomerTable) -> Result<CountColumns<'_>, ModelError> {
    let missing = |column: &str| ModelError::MissingColumn { column: column.to_string() };
    Ok((
        table.frequency().ok_or_else(|| missing("frequency"))?,
        table.recency().ok_or_else(|| missing("recency"))?,
        table.age().ok_or_else(|| missing("T"))?,
    ))
}

impl CountData {
    /// Validate and compress the customers of a table (`frequency, recency, T`, and
    /// `weights` when the rows are weighted patterns).
    pub fn from_table(table: &CustomerTable) -> Result<CountData, ModelError> {
        let (x, t_x, t) = count_columns(table)?;
        match table.weights() {
            None => Self::from_customers((0..table.len()).map(|row| (table.id(row), x[row], t_x[row], t[row]))),
            Some(weights) => {
                Self::from_rows((0..table.len()).map(|row| Row { x: x[row], t_x: t_x[row], t: t[row], weight: weights[row] }).collect())
            }
        }
    }

    /// Validate and compress (id, x, t_x, T) without copying the ids: an id is only
    /// turned into a `String` to name an invalid customer.
    pub fn from_customers<'a>(customers: impl IntoIterator<Item = (&'a str, f64, f64, f64)>) -> Result<CountData, ModelError> {
        let customers = customers.into_iter();
        let mut index: FastMap<(u64, u64, u64), usize> =
            FastMap::with_capacity_and_hasher(customers.size_hint().0, foldhash::fast::FixedState::with_seed(1));
        let mut rows: Vec<Row> = Vec::new();
        for (id, x, t_x, t) in customers {
            check(x, t_x, t).map_err(|reason| ModelError::InvalidCustomer { customer: id.to_string(), reason })?;
            let key = (x.to_bits(), t_x.to_bits(), t.to_bits());
            match index.get(&key) {
                Some(&position) => rows[position].weight += 1.0,
                None => {
                    index.insert(key, rows.len());
                    rows.push(Row { x, t_x, t, weight: 1.0 });
                }
            }
        }
        Self::from_valid_rows(rows)
    }

    /// From already-weighted rows (weights must be positive).
    pub fn from_rows(rows: Vec<Row>) -> Result<CountData, ModelError> {
        for (position, row) in rows.iter().enumerate() {
            let invalid = |reason: String| ModelError::InvalidCustomer { customer: format!("row {}", position + 1), reason };
            check(row.x, row.t_x, row.t).map_err(invalid)?;
            if !(row.weight > 0.0 && row.weight.is_finite()) {
                return Err(invalid(format!("weight must be > 0 (got {})", row.weight)));
            }
        }
        Self::from_valid_rows(rows)
    }

    fn from_valid_rows(rows: Vec<Row>) -> Result<CountData, ModelError> {
        let customers = rows.iter().map(|row| row.weight).sum();
        if rows.is_empty() {
            return Err(ModelError::NoData(String::new()));
        }
        let mut distinct_x: Vec<f64> = rows.iter().map(|row| row.x).collect();
        distinct_x.sort_by(f64::total_cmp);
        distinct_x.dedup();
        let x_index = rows.iter().map(|row| distinct_x.binary_search_by(|probe| probe.total_cmp(&row.x)).unwrap_or(0) as u32).collect();
        Ok(CountData { rows, customers, distinct_x, x_index })
    }

    /// The unique rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Number of customers (sum of weights).
    pub fn customers(&self) -> f64 {
        self.customers
    }

    /// Every `step`-th unique row (weights kept), for a cheap first fit whose estimate
    /// starts the fit on all rows. `None` when the data are too small to be worth it.
    pub fn subsample(&self, target_rows: usize) -> Option<CountData> {
        if self.rows.len() < target_rows * 4 {
            return None;
        }
        let step = self.rows.len() / target_rows;
        CountData::from_valid_rows(self.rows.iter().step_by(step).copied().collect()).ok()
    }

    /// The distinct values of x, ascending.
    pub fn distinct_x(&self) -> &[f64] {
        &self.distinct_x
    }

    /// For each row, the index of its x in [`CountData::distinct_x`].
    pub fn x_index(&self) -> &[u32] {
        &self.x_index
    }

    /// Mean T, a scale for starting points.
    pub fn mean_t(&self) -> f64 {
        self.rows.iter().map(|row| row.t * row.weight).sum::<f64>() / self.customers
    }
}

/// Spend data for Gamma-Gamma: repeat buyers' frequency and mean spend.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendData {
    rows: Vec<(f64, f64, f64)>,
    customers: f64,
    net_non_positive: u64,
}

impl SpendData {
    /// Repeat buyers' frequency and mean spend from a customer table.
    pub fn from_table(table: &CustomerTable) -> Result<SpendData, ModelError> {
        let (x, _, _) = count_columns(table)?;
        let monetary = table.monetary_value().ok_or_else(|| ModelError::MissingColumn { column: "monetary_value".into() })?;
        Self::new((0..table.len()).map(|row| (table.id(row), x[row], monetary[row])))
    }

    /// From (id, frequency, monetary value); customers with frequency 0 are left out (the
    /// model is for repeat buyers), and so are repeat buyers whose purchases net to zero
    /// or less after refunds (Gamma-Gamma models positive spend, as lifetimes requires;
    /// they are counted in [`SpendData::net_non_positive`]). A spend that is not a finite
    /// number is an error.
    pub fn new<'a>(customers: impl IntoIterator<Item = (&'a str, f64, f64)>) -> Result<SpendData, ModelError> {
        let mut index: FastMap<(u64, u64), usize> = FastMap::with_hasher(foldhash::fast::FixedState::with_seed(1));
        let mut rows: Vec<(f64, f64, f64)> = Vec::new();
        let mut net_non_positive = 0;
        for (id, x, m) in customers {
            if !x.is_finite() || x < 0.0 || x.fract() != 0.0 {
                return Err(ModelError::InvalidCustomer {
                    customer: id.to_string(),
                    reason: format!("frequency must be a whole number ≥ 0 (got {x})"),
                });
            }
            if x == 0.0 {
                continue;
            }
            if !m.is_finite() {
                return Err(ModelError::InvalidCustomer {
                    customer: id.to_string(),
                    reason: format!("monetary value must be a finite number (got {m})"),
                });
            }
            if m <= 0.0 {
                net_non_positive += 1;
                continue;
            }
            let key = (x.to_bits(), m.to_bits());
            match index.get(&key) {
                Some(&position) => rows[position].2 += 1.0,
                None => {
                    index.insert(key, rows.len());
                    rows.push((x, m, 1.0));
                }
            }
        }
        if rows.is_empty() {
            return Err(ModelError::NoData(": Gamma-Gamma needs repeat buyers with a positive spend".into()));
        }
        let customers = rows.iter().map(|row| row.2).sum();
        Ok(SpendData { rows, customers, net_non_positive })
    }

    /// Repeat buyers left out because their purchases net to zero or less.
    pub fn net_non_positive(&self) -> u64 {
        self.net_non_positive
    }

    /// (x, m, weight) rows.
    pub fn rows(&self) -> &[(f64, f64, f64)] {
        &self.rows
    }

    /// Number of repeat buyers.
    pub fn customers(&self) -> f64 {
        self.customers
    }
}

/// Discrete-time data for BG/BB: (x, t_x, n) with weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscreteData {
    rows: Vec<(u32, u32, u32, f64)>,
    customers: f64,
}

impl DiscreteData {
    /// From a table of `frequency, recency, T` (the number of opportunities) and
    /// optional `weights`.
    pub fn from_table(table: &CustomerTable) -> Result<DiscreteData, ModelError> {
        let (x, t_x, n) = count_columns(table)?;
        let weights = table.weights();
        Self::new((0..table.len()).map(|row| (table.id(row), x[row], t_x[row], n[row], weights.map_or(1.0, |weights| weights[row]))))
    }

    /// From (id, frequency, recency, periods, weight).
    pub fn new<'a>(rows: impl IntoIterator<Item = (&'a str, f64, f64, f64, f64)>) -> Result<DiscreteData, ModelError> {
        let mut out = Vec::new();
        for (id, x, t_x, n, weight) in rows {
            let invalid = |reason: String| Err(ModelError::InvalidCustomer { customer: id.to_string(), reason });
            let whole = |value: f64| value.is_finite() && value >= 0.0 && value.fract() == 0.0;
            if !(whole(x) && whole(t_x) && whole(n)) {
                return invalid(format!("frequency, recency and periods must be whole numbers ≥ 0 (got {x}, {t_x}, {n})"));
            }
            if x > t_x || t_x > n || (x > 0.0 && t_x == 0.0) {
                return invalid(format!("need frequency ≤ recency ≤ periods, and recency ≥ 1 when frequency ≥ 1 (got {x}, {t_x}, {n})"));
            }
            if !(weight > 0.0 && weight.is_finite()) {
                return invalid(format!("weight must be > 0 (got {weight})"));
            }
            out.push((x as u32, t_x as u32, n as u32, weight));
        }
        if out.is_empty() {
            return Err(ModelError::NoData(String::new()));
        }
        let customers = out.iter().map(|row| row.3).sum();
        Ok(DiscreteData { rows: out, customers })
    }

    /// (x, t_x, n, weight) rows.
    pub fn rows(&self) -> &[(u32, u32, u32, f64)] {
        &self.rows
    }

    /// Number of customers.
    pub fn customers(&self) -> f64 {
        self.customers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(x: f64, t_x: f64, t: f64) -> (&'static str, f64, f64, f64) {
        ("c7", x, t_x, t)
    }

    #[test]
    fn invalid_customers_are_named() {
        for (bad, needle) in [
            (customer(-1.0, 0.0, 1.0), "whole number"),
            (customer(1.5, 1.0, 2.0), "whole number"),
            (customer(1.0, 3.0, 2.0), "after T"),
            (customer(1.0, -1.0, 2.0), "≥ 0"),
            (customer(0.0, 1.0, 2.0), "recency must be 0"),
            (customer(1.0, f64::NAN, 2.0), "finite"),
        ] {
            let error = CountData::from_customers([bad]).expect_err("invalid");
            assert!(error.to_string().starts_with("customer c7: "), "{error}");
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn duplicates_become_weights() {
        let data = CountData::from_customers([customer(1.0, 1.0, 2.0), customer(1.0, 1.0, 2.0), customer(0.0, 0.0, 2.0)]).expect("valid");
        assert_eq!(data.rows().len(), 2);
        assert_eq!(data.customers(), 3.0);
    }
}
