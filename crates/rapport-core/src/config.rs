//! The workspace configuration schema (`rapport.toml`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use toml::Spanned;

use crate::expression::Expression;
use crate::table::analyze_columns;

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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_format: BTreeMap<String, String>,
    /// The service team's opening hours, for response times in business hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceConfig>,
    /// User-defined segments: name → a condition over the customer table's columns (SQL
    /// `WHERE` syntax), e.g. `big_spenders = "net_spend > 500 AND p_alive > 0.5"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Spanned<String>>,
    /// The Customer Matrix's grid and its watched top tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixConfig>,
    /// The brand's own playbook rules, added to the built-in ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub playbook: Vec<PlaybookRule>,
    /// How actions are chosen and measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionsConfig>,
    /// What a contact costs, by channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<CostsConfig>,
    /// How purchase and churn propensity are learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<PropensityConfig>,
}

/// `[costs]`: what a contact costs on each channel, for a brand whose costs file does not
/// list each contact's cost. When set, a customer's contact cost is their conversations
/// on each channel times its rate, and contact rows of the costs file are not used
/// (rewards still are).
///
/// ```toml
/// [costs]
/// per_contact = { phone = 6.5, chat = 2.8, email = 3.4, social = 2.2 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostsConfig {
    /// Channel → cost of one conversation on it, in the workspace's currency.
    #[serde(default)]
    pub per_contact: BTreeMap<String, Spanned<f64>>,
}

/// `[propensity]`: the window propensity is learned over.
///
/// ```toml
/// [propensity]
/// horizon_days = 90     # buy (or not) within this many days; default 90
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropensityConfig {
    /// The window, days (7–365; default 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_days: Option<Spanned<u32>>,
}

impl PropensityConfig {
    /// The window, days.
    pub fn horizon_days(config: Option<&PropensityConfig>) -> u32 {
        config.and_then(|config| config.horizon_days.as_ref()).map_or(90, |days| *days.get_ref())
    }
}

/// `[[playbook]]`: a rule of the brand's own.
///
/// ```toml
/// [[playbook]]
/// action = "vip_preview"                    # the action's name
/// when = "segment = 'Champions' AND clv > 300"
/// channel = "email"                         # default: the customer's preferred channel
/// priority = 45                             # 0–100, higher first (default 50)
/// cooldown_days = 90                        # default 30
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybookRule {
    /// The action's name.
    pub action: String,
    /// A condition over the customer table.
    pub when: Spanned<String>,
    /// A channel, or the preferred one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Spanned<String>>,
    /// 0–100, higher first (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Spanned<u8>>,
    /// Days before the action may go to the same customer again (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_days: Option<u32>,
}

/// `[actions]`: the playbook's settings.
///
/// ```toml
/// [actions]
/// builtin = true             # the built-in "like a friend" rules (default true)
/// control_share = 0.1        # held out to measure the actions (0–0.5, default 0.1)
/// frequency_cap_days = 7     # at most one action per customer in this many days
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Use the built-in rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<bool>,
    /// Share held out as control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_share: Option<Spanned<f64>>,
    /// Days between two actions to one customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap_days: Option<u32>,
}

impl ActionsConfig {
    /// Whether the built-in rules run.
    pub fn builtin(config: Option<&ActionsConfig>) -> bool {
        config.and_then(|config| config.builtin).unwrap_or(true)
    }

    /// The control share.
    pub fn control_share(config: Option<&ActionsConfig>) -> f64 {
        config.and_then(|config| config.control_share.as_ref()).map_or(0.1, |share| *share.get_ref())
    }

    /// The frequency cap, days.
    pub fn frequency_cap_days(config: Option<&ActionsConfig>) -> u32 {
        config.and_then(|config| config.frequency_cap_days).unwrap_or(7)
    }
}

/// `[matrix]`: the Customer Matrix's grid and the top tier it watches.
///
/// ```toml
/// [matrix]
/// longevity_bands = 5                        # quantile bands of relationship longevity
/// strength_bands = 5                         # quantile bands of relationship strength
/// top_tier = "strength_band = 5 AND longevity_band >= 3"
/// watch_days = 30                            # how recent a risk signal must be
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// Bands of longevity (2–20; default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longevity_bands: Option<Spanned<u32>>,
    /// Bands of strength (2–20; default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength_bands: Option<Spanned<u32>>,
    /// The top tier: a condition over the customer table (default [`DEFAULT_TOP_TIER`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_tier: Option<Spanned<String>>,
    /// Days back in which a risk signal counts as new (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_days: Option<Spanned<u32>>,
}

/// The top tier unless `[matrix] top_tier` says otherwise (for a 5 × 5 grid): the
/// strongest band among the two longest-standing ones.
pub const DEFAULT_TOP_TIER: &str = "strength_band = 5 AND longevity_band >= 4";

impl MatrixConfig {
    /// Longevity bands.
    pub fn longevity_bands(config: Option<&MatrixConfig>) -> u32 {
        config.and_then(|config| config.longevity_bands.as_ref()).map_or(5, |bands| *bands.get_ref())
    }

    /// Strength bands.
    pub fn strength_bands(config: Option<&MatrixConfig>) -> u32 {
        config.and_then(|config| config.strength_bands.as_ref()).map_or(5, |bands| *bands.get_ref())
    }

    /// The top tier's condition.
    pub fn top_tier(config: Option<&MatrixConfig>) -> String {
        let default = || {
            let longevity = MatrixConfig::longevity_bands(config);
            format!("strength_band = {} AND longevity_band >= {}", MatrixConfig::strength_bands(config), longevity - 1)
        };
        config.and_then(|config| config.top_tier.as_ref()).map_or_else(default, |tier| tier.get_ref().clone())
    }

    /// Watch window, days.
    pub fn watch_days(config: Option<&MatrixConfig>) -> u32 {
        config.and_then(|config| config.watch_days.as_ref()).map_or(30, |days| *days.get_ref())
    }
}

/// A problem in `rapport.toml` found after parsing, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// What is wrong and how to fix it.
    pub message: String,
    /// Byte range in the file of the value at fault, when known.
    pub span: Option<std::ops::Range<usize>>,
}

impl From<String> for ConfigProblem {
    fn from(message: String) -> ConfigProblem {
        ConfigProblem { message, span: None }
    }
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
    pub fn validate(&self) -> Result<(), ConfigProblem> {
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
                return Err(format!("[{table}] names {unknown:?}, which is not a kind of events ({})", kinds.join(", ")).into());
            }
        }
        if let Some(service) = &self.service {
            crate::schedule::Schedule::parse(&service.hours, &service.holidays).map_err(|reason| format!("[service] {reason}"))?;
        }
        // Segments are evaluated before the playbook, so they cannot read its next_action;
        // the playbook's rules may read the segments.
        let builtin: Vec<&str> = analyze_columns().iter().map(|(name, _)| *name).filter(|name| *name != "next_action").collect();
        let with_segments: Vec<&str> = builtin.iter().copied().chain(self.segments.keys().map(String::as_str)).collect();
        for (name, condition) in &self.segments {
            let at = |message: String| ConfigProblem { message, span: Some(condition.span()) };
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(at(format!(
                    "[segments] {name:?}: a segment's name is letters, digits and _ (it becomes a column), such as big_spenders"
                )));
            }
            if builtin.contains(&name.as_str()) {
                return Err(at(format!("[segments] {name}: the customer table already has a column of that name; choose another")));
            }
            check_condition(&format!("[segments] {name}"), condition, &builtin).map_err(at)?;
        }
        if let Some(matrix) = &self.matrix {
            for (key, bands) in [("longevity_bands", &matrix.longevity_bands), ("strength_bands", &matrix.strength_bands)] {
                if let Some(bands) = bands
                    && !(2..=20).contains(bands.get_ref())
                {
                    return Err(ConfigProblem {
                        message: format!(
                            "[matrix] {key} = {}: a grid needs 2 to 20 bands on each axis (the default is 5)",
                            bands.get_ref()
                        ),
                        span: Some(bands.span()),
                    });
                }
            }
            if let Some(tier) = &matrix.top_tier {
                check_condition("[matrix] top_tier", tier, &builtin)
                    .map_err(|message| ConfigProblem { message, span: Some(tier.span()) })?;
            }
            if let Some(days) = &matrix.watch_days
                && *days.get_ref() == 0
            {
                return Err(ConfigProblem { message: "[matrix] watch_days must be at least 1".into(), span: Some(days.span()) });
            }
        }
        if let Some(costs) = &self.costs {
            for (channel, cost) in &costs.per_contact {
                if !crate::event::Channel::NAMES.contains(&channel.as_str()) {
                    return Err(ConfigProblem {
                        message: format!(
                            "[costs] per_contact names {channel:?}, which is not a channel ({})",
                            crate::event::Channel::NAMES.join(", ")
                        ),
                        span: Some(cost.span()),
                    });
                }
                if !cost.get_ref().is_finite() || *cost.get_ref() < 0.0 {
                    return Err(ConfigProblem {
                        message: format!("[costs] per_contact {channel} = {}: a cost is a number, 0 or more", cost.get_ref()),
                        span: Some(cost.span()),
                    });
                }
            }
        }
        if let Some(days) = self.propensity.as_ref().and_then(|propensity| propensity.horizon_days.as_ref())
            && !(7..=365).contains(days.get_ref())
        {
            return Err(ConfigProblem {
                message: format!("[propensity] horizon_days = {}: the window is 7 to 365 days (the default is 90)", days.get_ref()),
                span: Some(days.span()),
            });
        }
        for rule in &self.playbook {
            let what = format!("[[playbook]] {}", rule.action);
            if rule.action.is_empty() || !rule.action.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigProblem {
                    message: format!("{what}: an action's name is letters, digits and _, such as vip_preview"),
                    span: Some(rule.when.span()),
                });
            }
            check_condition(&what, &rule.when, &with_segments)
                .map_err(|message| ConfigProblem { message, span: Some(rule.when.span()) })?;
            if let Some(channel) = &rule.channel
                && !crate::event::Channel::NAMES.contains(&channel.get_ref().as_str())
            {
                return Err(ConfigProblem {
                    message: format!(
                        "{what}: channel {:?} is not one of {} (leave it out for the customer's preferred channel)",
                        channel.get_ref(),
                        crate::event::Channel::NAMES.join(", ")
                    ),
                    span: Some(channel.span()),
                });
            }
            if let Some(priority) = &rule.priority
                && *priority.get_ref() > 100
            {
                return Err(ConfigProblem { message: format!("{what}: priority is 0 to 100"), span: Some(priority.span()) });
            }
        }
        if let Some(share) = self.actions.as_ref().and_then(|actions| actions.control_share.as_ref())
            && !(0.0..=0.5).contains(share.get_ref())
        {
            return Err(ConfigProblem {
                message: format!("[actions] control_share = {}: the share held out is 0 to 0.5 (0.1 by default)", share.get_ref()),
                span: Some(share.span()),
            });
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
            segments: BTreeMap::new(),
            matrix: None,
            playbook: Vec::new(),
            actions: None,
            costs: None,
            propensity: None,
        }
    }
}

/// Parse a condition and check that every column it reads is one of `columns`, with a
/// suggestion for a misspelt one.
fn check_condition(what: &str, condition: &Spanned<String>, columns: &[&str]) -> Result<(), String> {
    let expression = Expression::parse_condition(condition.get_ref()).map_err(|error| {
        let message = error.to_string();
        if message.contains("a filter must be a condition") {
            format!(
                "{what}: {:?} is not a condition that is true or false; write one such as net_spend > 100 or segment = 'Champions'",
                condition.get_ref()
            )
        } else {
            format!("{what}: {message}")
        }
    })?;
    for column in expression.columns() {
        if !columns.contains(&column.as_str()) {
            let nearest =
                crate::nearest_name(column, columns.iter().copied()).map(|known| format!("; did you mean {known}?")).unwrap_or_default();
            return Err(format!(
                "{what}: the customer table has no column {column:?}{nearest} (the customer table's columns are listed in docs/measures.md)"
            ));
        }
    }
    Ok(())
}
