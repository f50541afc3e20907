//! The workspace configuration schema (`rapport.toml`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `rapport.toml`: how the brand's exports map onto Rapport's events.
///
/// ```toml
/// version = 1
/// timezone = "Europe/Paris"
/// currency = "EUR"
///
/// [mapping.purchases]
/// customer_id = "client"
/// time = "order_date"
/// amount = "= quantity * unit_price"   # computed: starts with =
///
/// [set.surveys]
/// survey_type = "csat"                  # a constant for every row
///
/// [filter]
/// purchases = "status != 'cancelled'"   # rows kept (SQL syntax)
///
/// [decimal_comma]
/// purchases = true                      # 12,50 and 1.234,50
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Schema version of this file.
    pub version: u32,
    /// IANA time zone in which naive times are read and periods bucketed.
    #[serde(default = "utc")]
    pub timezone: String,
    /// Currency assumed when a purchase names none.
    #[serde(default = "usd")]
    pub currency: String,
    /// Per kind: Rapport field name → input column name, or `= expression` computed
    /// from columns (see [`crate::mapping`]).
    #[serde(default)]
    pub mapping: BTreeMap<String, BTreeMap<String, String>>,
    /// Per kind: Rapport field name → a constant for every row.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, BTreeMap<String, String>>,
    /// Per kind: a row filter in SQL syntax; rows for which it is not true are skipped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filter: BTreeMap<String, String>,
    /// Per kind: amounts are written with a decimal comma (`12,50`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decimal_comma: BTreeMap<String, bool>,
    /// Per kind: the strftime pattern (or `epoch`) of the time column.
    #[serde(default)]
    pub time_format: BTreeMap<String, String>,
    /// The service team's opening hours, for response times in business hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceConfig>,
}

/// `[service]`: opening hours (in the workspace's time zone) and holidays.
///
/// ```toml
/// [service]
/// hours = "Mon-Fri 09:00-18:00; Sat 10:00-16:00"
/// holidays = ["2025-12-25", "2025-12-26"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Weekly opening hours (see [`crate::schedule::Schedule::parse`]).
    pub hours: String,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A mapping profile: how one export layout maps onto Rapport's events, in a file of
/// its own (`rapport ingest --mapping refunds.toml`), used for that ingest instead of
/// the workspace's tables. The same tables as `rapport.toml`'s, nothing else:
///
/// ```toml
/// [mapping.purchases]
/// order_id = "order"
/// time = "refunded_at"
/// amount = "= -refund_total"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingProfile {
    /// As [`WorkspaceConfig::mapping`].
    #[serde(default)]
    pub mapping: BTreeMap<String, BTreeMap<String, String>>,
    /// As [`WorkspaceConfig::set`].
    #[serde(default)]
    pub set: BTreeMap<String, BTreeMap<String, String>>,
    /// As [`WorkspaceConfig::filter`].
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// As [`WorkspaceConfig::decimal_comma`].
    #[serde(default)]
    pub decimal_comma: BTreeMap<String, bool>,
    /// As [`WorkspaceConfig::time_format`].
    #[serde(default)]
    pub time_format: BTreeMap<String, String>,
}

impl WorkspaceConfig {
    /// This configuration with its mapping tables replaced by `profile`'s (time zone and
    /// currency kept).
    pub fn with_profile(&self, profile: &MappingProfile) -> WorkspaceConfig {
        WorkspaceConfig {
            mapping: profile.mapping.clone(),
            set: profile.set.clone(),
            filter: profile.filter.clone(),
            decimal_comma: profile.decimal_comma.clone(),
            time_format: profile.time_format.clone(),
            ..self.clone()
        }
    }

    /// Check what serde cannot: every per-kind table names a kind
    /// (`[mapping.purchase]` for `purchases` would otherwise be ignored, silently).
    pub fn validate(&self) -> Result<(), String> {
        let kinds = crate::event::EventKind::ALL.map(crate::event::EventKind::name);
        let tables = [
            ("mapping", self.mapping.keys().collect::<Vec<_>>()),
            ("set", self.set.keys().collect()),
            ("filter", self.filter.keys().collect()),
            ("decimal_comma", self.decimal_comma.keys().collect()),
            ("time_format", self.time_format.keys().collect()),
        ];
        for (table, keys) in tables {
            if let Some(unknown) = keys.into_iter().find(|key| !kinds.contains(&key.as_str())) {
                return Err(format!("[{table}] names {unknown:?}, which is not a kind of events ({})", kinds.join(", ")));
            }
        }
        if let Some(service) = &self.service {
            crate::schedule::Schedule::parse(&service.hours, &service.holidays).map_err(|reason| format!("[service] {reason}"))?;
        }
        Ok(())
    }
}

fn utc() -> String {
    "UTC".to_string()
}

fn usd() -> String {
    "USD".to_string()
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        WorkspaceConfig {
            version: 1,
            timezone: utc(),
            currency: usd(),
            mapping: BTreeMap::new(),
            set: BTreeMap::new(),
            filter: BTreeMap::new(),
            decimal_comma: BTreeMap::new(),
            time_format: BTreeMap::new(),
            service: None,
        }
    }
}
