//! The Customer Matrix: every customer on a grid of relationship longevity × strength.
//!
//! Longevity is the days from the customer's first event to the observation end;
//! strength is the index of [`crate::strength`]. Each axis is cut into quantile bands by
//! the rule of [`crate::rank::bands`] (ties share a band; band 1 the shortest / weakest).
//! A customer's value is realised net spend to date plus predicted lifetime value (CLV,
//! when the run has it).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::rank::{Ranked, bands};

/// One customer as the matrix reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Days from the first event to the observation end.
    pub longevity_days: i64,
    /// Strength index, 0–100.
    pub strength: f64,
    /// Net spend to date.
    pub net_spend: f64,
    /// Predicted spend over the next period (NaN when not predicted).
    pub predicted_spend: f64,
    /// Predicted lifetime value (NaN when not predicted).
    pub clv: f64,
    /// P(alive) (NaN when not predicted).
    pub p_alive: f64,
}

/// The band of every customer on both axes: `(longevity_band, strength_band)`.
pub fn place(customers: &[Placed], longevity_bands: u32, strength_bands: u32) -> Vec<(u32, u32)> {
    let longevity: Vec<i64> = customers.iter().map(|c| c.longevity_days).collect();
    let strength: Vec<Ranked> = customers.iter().map(|c| Ranked(c.strength)).collect();
    bands(&longevity, longevity_bands).into_iter().zip(bands(&strength, strength_bands)).collect()
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// 1 = the newest relationships.
    pub longevity_band: u32,
    /// 1 = the weakest.
    pub strength_band: u32,
    /// Customers in the cell.
    pub customers: u64,
    /// Customers in the cell with a prediction (a customer without purchases, or with
    /// only refunds, has none).
    pub customers_predicted: u64,
    /// Share of all customers.
    pub share_of_customers: f64,
    /// Shortest longevity in the cell, days (NaN in an empty cell).
    pub longevity_days_min: f64,
    /// Longest longevity in the cell, days (NaN in an empty cell).
    pub longevity_days_max: f64,
    /// Weakest strength in the cell (NaN in an empty cell).
    pub strength_min: f64,
    /// Strongest strength in the cell (NaN in an empty cell).
    pub strength_max: f64,
    /// Realised net spend to date.
    pub net_spend: f64,
    /// Predicted spend over the next period.
    pub predicted_spend: f64,
    /// Predicted spend per customer with a prediction.
    pub predicted_spend_per_customer: f64,
    /// Predicted lifetime value.
    pub clv: f64,
    /// Share of the brand's value (net spend + CLV).
    pub share_of_value: f64,
    /// Mean P(alive) (NaN without predictions).
    pub mean_p_alive: f64,
}

/// Every cell of the grid, by longevity band then strength band: `longevity_bands` ×
/// `strength_bands` of them, those no customer fell in (ties share a band) included with
/// no customers, so that an export is the whole grid.
pub fn cells(customers: &[Placed], placed: &[(u32, u32)], longevity_bands: u32, strength_bands: u32) -> Vec<Cell> {
    let finite = |value: f64| if value.is_finite() { value } else { 0.0 };
    let total_value: f64 = customers.iter().map(|c| c.net_spend + finite(c.clv)).sum();
    let empty = |longevity_band, strength_band| Cell {
        longevity_band,
        strength_band,
        customers: 0,
        customers_predicted: 0,
        share_of_customers: 0.0,
        longevity_days_min: f64::INFINITY,
        longevity_days_max: f64::NEG_INFINITY,
        strength_min: f64::INFINITY,
        strength_max: f64::NEG_INFINITY,
        net_spend: 0.0,
        predicted_spend: 0.0,
        predicted_spend_per_customer: f64::NAN,
        clv: 0.0,
        share_of_value: 0.0,
        mean_p_alive: f64::NAN,
    };
    let mut grid: BTreeMap<(u32, u32), Cell> = BTreeMap::new();
    for longevity_band in 1..=longevity_bands {
        for strength_band in 1..=strength_bands {
            grid.insert((longevity_band, strength_band), empty(longevity_band, strength_band));
        }
    }
    let mut alive: HashMap<(u32, u32), (f64, u64)> = HashMap::new();
    for (customer, &(longevity_band, strength_band)) in customers.iter().zip(placed) {
        let cell = grid.entry((longevity_band, strength_band)).or_insert_with(|| empty(longevity_band, strength_band));
        cell.customers += 1;
        cell.longevity_days_min = cell.longevity_days_min.min(customer.longevity_days as f64);
        cell.longevity_days_max = cell.longevity_days_max.max(customer.longevity_days as f64);
        cell.strength_min = cell.strength_min.min(customer.strength);
        cell.strength_max = cell.strength_max.max(customer.strength);
        cell.net_spend += customer.net_spend;
        // Without a fit, predictions are blank, not 0; a customer without one does not
        // dilute the cell's spend per customer.
        if customer.predicted_spend.is_finite() || customer.clv.is_finite() {
            cell.customers_predicted += 1;
        }
        cell.predicted_spend += finite(customer.predicted_spend);
        cell.clv += finite(customer.clv);
        if customer.p_alive.is_finite() {
            let entry = alive.entry((longevity_band, strength_band)).or_default();
            entry.0 += customer.p_alive;
            entry.1 += 1;
        }
    }
    let n = customers.len().max(1) as f64;
    grid.into_iter()
        .map(|(key, mut cell)| {
            cell.share_of_customers = cell.customers as f64 / n;
            cell.share_of_value = if total_value != 0.0 { (cell.net_spend + cell.clv) / total_value } else { f64::NAN };
            if let Some((sum, count)) = alive.get(&key) {
                cell.mean_p_alive = sum / *count as f64;
            }
            if cell.customers_predicted > 0 {
                cell.predicted_spend_per_customer = cell.predicted_spend / cell.customers_predicted as f64;
            } else {
                (cell.predicted_spend, cell.clv) = (f64::NAN, f64::NAN);
            }
            if cell.customers == 0 {
                (cell.longevity_days_min, cell.longevity_days_max, cell.strength_min, cell.strength_max) =
                    (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
            }
            cell
        })
        .collect()
}

/// A cell: `(longevity_band, strength_band)`.
pub type CellKey = (u32, u32);

/// Movement between two runs: how many customers (and how much value, in the later run)
/// went from one cell to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// The cell in the earlier run (`None`: not in it — a new customer).
    pub from: Option<(u32, u32)>,
    /// The cell in the later run (`None`: not in it).
    pub to: Option<(u32, u32)>,
    /// Customers.
    pub customers: u64,
    /// Their value (net spend + CLV) in the later run, or in the earlier one for those gone.
    pub value: f64,
}

/// Which way a customer went on the strength axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A stronger band.
    MovedUp,
    /// A weaker band.
    Slipped,
    /// The same band.
    Stayed,
    /// Only in the later run.
    New,
    /// Only in the earlier run.
    Gone,
}

/// The direction of one customer.
pub fn direction(from: Option<(u32, u32)>, to: Option<(u32, u32)>) -> Direction {
    match (from, to) {
        (None, _) => Direction::New,
        (_, None) => Direction::Gone,
        (Some((_, a)), Some((_, b))) if b > a => Direction::MovedUp,
        (Some((_, a)), Some((_, b))) if b < a => Direction::Slipped,
        _ => Direction::Stayed,
    }
}

/// The moves between an earlier and a later placement, keyed by customer id, with each
/// customer's value.
pub fn migration(earlier: &HashMap<&str, ((u32, u32), f64)>, later: &HashMap<&str, ((u32, u32), f64)>) -> Vec<Move> {
    let mut moves: BTreeMap<(Option<CellKey>, Option<CellKey>), (u64, f64)> = BTreeMap::new();
    for (id, (to, value)) in later {
        let from = earlier.get(id).map(|(cell, _)| *cell);
        let entry = moves.entry((from, Some(*to))).or_default();
        entry.0 += 1;
        entry.1 += value;
    }
    for (id, (from, value)) in earlier {
        if !later.contains_key(id) {
            let entry = moves.entry((Some(*from), None)).or_default();
            entry.0 += 1;
            entry.1 += value;
        }
    }
    moves.into_iter().map(|((from, to), (customers, value))| Move { from, to, customers, value }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(longevity_days: i64, strength: f64, clv: f64) -> Placed {
        Placed { longevity_days, strength, net_spend: 10.0, predicted_spend: clv / 2.0, clv, p_alive: 0.5 }
    }

    #[test]
    fn cells_add_up_to_the_brand() {
        let customers: Vec<Placed> = (0..100).map(|i| customer(i * 3, f64::from(i as u32 % 17), f64::from(i as u32))).collect();
        let placed = place(&customers, 5, 5);
        let grid = cells(&customers, &placed, 5, 5);
        assert_eq!(grid.len(), 25, "every cell of the grid, empty ones included");
        assert_eq!(grid.iter().map(|c| c.customers).sum::<u64>(), 100);
        assert!((grid.iter().map(|c| c.share_of_value).sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((grid.iter().map(|c| c.share_of_customers).sum::<f64>() - 1.0).abs() < 1e-12);
        // Longevity bands are quintiles of 100 distinct values: 20 each.
        for band in 1..=5 {
            assert_eq!(grid.iter().filter(|c| c.longevity_band == band).map(|c| c.customers).sum::<u64>(), 20);
        }
    }

    /// A customer without a prediction (no purchases, or only refunds) is in the cell
    /// but not in its spend per customer; a cell without customers has no ranges.
    #[test]
    fn spend_per_customer_is_over_the_customers_with_a_prediction() {
        let mut unpredicted = customer(10, 1.0, f64::NAN);
        unpredicted.p_alive = f64::NAN;
        let customers = [customer(10, 1.0, 40.0), customer(10, 1.0, 20.0), unpredicted];
        let grid = cells(&customers, &[(1, 1); 3], 1, 2);
        assert_eq!((grid[0].customers, grid[0].customers_predicted), (3, 2));
        assert_eq!(grid[0].predicted_spend, 30.0);
        assert_eq!(grid[0].predicted_spend_per_customer, 15.0);
        assert_eq!(grid[0].mean_p_alive, 0.5);
        assert_eq!((grid[1].strength_band, grid[1].customers), (2, 0));
        assert!(grid[1].predicted_spend_per_customer.is_nan() && grid[1].longevity_days_min.is_nan() && grid[1].strength_max.is_nan());
        assert_eq!((grid[1].share_of_customers, grid[1].share_of_value), (0.0, 0.0));
    }

    #[test]
    fn migration_counts_every_customer_once() {
        let earlier: HashMap<&str, ((u32, u32), f64)> = [("a", ((1, 1), 5.0)), ("b", ((2, 3), 7.0)), ("c", ((1, 2), 1.0))].into();
        let later: HashMap<&str, ((u32, u32), f64)> = [("a", ((2, 2), 6.0)), ("b", ((3, 1), 8.0)), ("d", ((1, 1), 2.0))].into();
        let moves = migration(&earlier, &later);
        assert_eq!(moves.iter().map(|m| m.customers).sum::<u64>(), 4);
        assert_eq!(direction(Some((1, 1)), Some((2, 2))), Direction::MovedUp);
        assert_eq!(direction(Some((2, 3)), Some((3, 1))), Direction::Slipped);
        assert_eq!(direction(None, Some((1, 1))), Direction::New);
        assert_eq!(direction(Some((1, 2)), None), Direction::Gone);
        assert!(moves.contains(&Move { from: Some((1, 2)), to: None, customers: 1, value: 1.0 }));
    }
}
