//! The customers of an analysis as the stages after the reading see them.

use rapport_measures::Timeline;

/// The customers of an analysis, in the customer table's order: each one's timeline (the
/// embedded path), or their ids and customer-file facts alone (an engine's path, whose
/// plans read the events where they are stored).
#[derive(Debug, Clone, Copy)]
pub enum Customers<'a> {
    /// Every customer's events, read into this process.
    Timelines(&'a [Timeline]),
    /// The customers alone.
    Listed(&'a Listed),
}

/// Customers without their events: see [`Customers::Listed`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    /// Their ids, in natural order.
    pub ids: Vec<String>,
    /// Their region from the customers file.
    pub region: Vec<Option<String>>,
    /// The distance from their home (customers file) to the nearest store, km.
    pub store_distance_km: Vec<Option<f64>>,
}

impl<'a> Customers<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Customers::Timelines(timelines) => timelines.len(),
            Customers::Listed(listed) => listed.ids.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of the customer at `row`.
    pub fn id(&self, row: usize) -> &'a str {
        match self {
            Customers::Timelines(timelines) => timelines[row].customer.as_str(),
            Customers::Listed(listed) => listed.ids[row].as_str(),
        }
    }

    /// Every id, in order.
    pub fn ids(self) -> impl Iterator<Item = &'a str> + 'a {
        (0..self.len()).map(move |row| self.id(row))
    }

    /// The region of the customer at `row`.
    pub fn region(&self, row: usize) -> Option<&'a str> {
        match self {
            Customers::Timelines(timelines) => timelines[row].region.as_deref(),
            Customers::Listed(listed) => listed.region[row].as_deref(),
        }
    }

    /// The distance to the nearest store of the customer at `row`, km.
    pub fn store_distance_km(&self, row: usize) -> Option<f64> {
        match self {
            Customers::Timelines(timelines) => timelines[row].store_distance_km,
            Customers::Listed(listed) => listed.store_distance_km[row],
        }
    }

    /// The timelines: empty for listed customers, whose facts the plans found.
    pub fn timelines(&self) -> &'a [Timeline] {
        match self {
            Customers::Timelines(timelines) => timelines,
            Customers::Listed(_) => &[],
        }
    }
}
