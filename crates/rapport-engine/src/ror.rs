//! Return on Relationship per customer, and by segment, matrix cell, channel and
//! program (definitions in `docs/measures.md`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value as Json, json};

use rapport_action::ror::{CustomerValue, Ratio, RorInputs};
use rapport_core::config::CostsConfig;
use rapport_core::table::CustomerTable;
use rapport_measures::Headline;
use rapport_measures::table::{Table, Values};

use crate::EngineError;

/// What ROR reads.
pub(crate) struct Inputs<'a> {
    /// The customers, in the table's order: their ids (referrals name them).
    pub ids: crate::customers::Customers<'a>,
    /// What ROR reads of each customer's events, in the same order.
    pub customers: &'a [RorInputs],
    /// (referrer, referred) customer ids.
    pub referrals: &'a [(String, String)],
    /// 12-month CLV per customer (NaN without a prediction).
    pub clv: &'a [f64],
    /// RFM segment per customer.
    pub segment: &'a [Option<&'a str>],
    /// Matrix cell (longevity band, strength band) per customer.
    pub cells: &'a [(u32, u32)],
    /// `[costs]` of `rapport.toml`.
    pub costs: Option<&'a CostsConfig>,
    /// Interval confidence.
    pub confidence: f64,
    /// The workspace's currency, for units.
    pub currency: &'a str,
    /// 10^(the currency's minor digits): realised values and costs are sums of amounts,
    /// rounded to the minor unit as net spend is.
    pub minor: f64,
}

/// What ROR adds to a run besides its columns.
pub(crate) struct Outcome {
    /// The `ror` table; none when no customer has a relationship cost (its every group
    /// would read 0 customers, 0 value and no ratio, which looked like a measured zero).
    pub table: Option<Table>,
    /// For `aggregates.json`.
    pub aggregates: Json,
    /// The headline `ror`, or why not.
    pub headline: Result<Headline, String>,
    /// What the figures leave out, for the run's warnings.
    pub warnings: Vec<String>,
}

/// A customer's cost split by channel and by program, for the attributed rows.
#[derive(Default)]
struct Split {
    channels: BTreeMap<String, f64>,
    programs: BTreeMap<String, f64>,
}

/// Add `value_realised`, `value_referred`, `value_predicted`, `value`,
/// `relationship_cost` and `ror` to `table`; return the `ror` table.
pub(crate) fn add(table: &mut CustomerTable, inputs: &Inputs<'_>) -> Result<Outcome, EngineError> {
    let (ids, customers) = (inputs.ids, inputs.customers);
    let rates = inputs.costs.map(|costs| &costs.per_contact).filter(|rates| !rates.is_empty());
    let amount = |micros: i64| micros as f64 / 1e6;

    // The value basis: margins where the purchases carry them. Rows without one are valued
    // at the brand's margin rate over the rows that have one, and so is predicted value.
    // Sums of millionths: exact, the same on every engine.
    let (margin_sum, margin_amount, rows_with_margin, rows) =
        customers.iter().fold((0_i128, 0_i128, 0_u64, 0_u64), |(sum, amount, with, rows), ror| {
            (
                sum + i128::from(ror.margin_micros),
                amount + i128::from(ror.margined_amount_micros),
                with + ror.rows_with_margin,
                rows + ror.rows,
            )
        });
    let margin_rate = (rows_with_margin > 0 && margin_amount > 0).then(|| margin_sum as f64 / margin_amount as f64);
    let rate = margin_rate.unwrap_or(1.0);
    let realised: Vec<f64> = customers
        .iter()
        .map(|customer| {
            let sum = amount(customer.margin_micros) + amount(customer.unmargined_amount_micros) * rate;
            (sum * inputs.minor).round() / inputs.minor
        })
        .collect();
    let index: HashMap<&str, usize> = ids.ids().enumerate().map(|(row, id)| (id, row)).collect();
    let mut referred = vec![0.0; ids.len()];
    for (referrer, referred_id) in inputs.referrals {
        if let (Some(&from), Some(&to)) = (index.get(referrer.as_str()), index.get(referred_id.as_str())) {
            referred[from] += realised[to];
        }
    }
    drop(index);

    // Groups: every customer once in all, segment and cell; in channel and program rows,
    // a customer's value is split in proportion to the cost spent on each. Only customers
    // the brand spent on count (a group's ROR is the return on what was spent there);
    // customers without cost are counted beside it. Each customer's split is added to the
    // groups as soon as the customer is valued, not held for every customer to the end:
    // a million customers' splits were 500 MB at the analysis's peak (heaptrack).
    let mut groups: BTreeMap<(&str, String), Ratio> = BTreeMap::new();
    let mut uncosted: BTreeMap<(&str, String), u64> = BTreeMap::new();
    let mut values = Vec::with_capacity(ids.len());
    let mut unpriced: BTreeMap<String, u64> = BTreeMap::new();
    for (row, ror) in customers.iter().enumerate() {
        let mut split = Split::default();
        let mut contacts = 0.0;
        let mut rewards = 0.0;
        match rates {
            Some(rates) => {
                for (channel, &count) in &ror.conversations {
                    match rates.get(channel.as_str()) {
                        Some(cost) => {
                            let spent = count as f64 * cost.get_ref();
                            contacts += spent;
                            *split.channels.entry(channel.clone()).or_default() += spent;
                        }
                        None => *unpriced.entry(channel.clone()).or_default() += count,
                    }
                }
            }
            None => {
                for (channel, &micros) in &ror.contact_costs {
                    contacts += amount(micros);
                    *split.channels.entry(channel_name(channel.as_deref())).or_default() += amount(micros);
                }
            }
        }
        for (channel, &micros) in &ror.reward_costs {
            rewards += amount(micros);
            *split.channels.entry(channel_name(channel.as_deref())).or_default() += amount(micros);
        }
        let mut programs = 0.0;
        for ((program, channel), &micros) in &ror.program_costs {
            programs += amount(micros);
            *split.channels.entry(channel_name(channel.as_deref())).or_default() += amount(micros);
            *split.programs.entry(program.clone()).or_default() += amount(micros);
        }
        let clv = inputs.clv[row];
        let cents = |amount: f64| (amount * inputs.minor).round() / inputs.minor;
        let customer = CustomerValue {
            realised: realised[row],
            referred: cents(referred[row]),
            predicted: if clv.is_finite() { clv * rate } else { 0.0 },
            contacts: cents(contacts),
            rewards: cents(rewards),
            programs: cents(programs),
        };
        let (value, cost) = (customer.value(), customer.cost());
        values.push(customer);
        let (longevity, strength) = inputs.cells[row];
        let keys = [
            Some(("all", "all customers".to_string())),
            inputs.segment[row].map(|segment| ("segment", segment.to_string())),
            Some(("cell", format!("L{longevity}-S{strength}"))),
        ];
        if cost <= 0.0 {
            for key in keys.into_iter().flatten() {
                groups.entry(key.clone()).or_default();
                *uncosted.entry(key).or_default() += 1;
            }
            continue;
        }
        for key in keys.into_iter().flatten() {
            groups.entry(key).or_default().add(value, cost);
        }
        // Only where something was spent: a control-group contact that cost nothing is not
        // a customer of that channel's or program's return.
        for (channel, spent) in split.channels.into_iter().filter(|(_, spent)| *spent > 0.0) {
            groups.entry(("channel", channel)).or_default().add(value * spent / cost, spent);
        }
        for (program, spent) in split.programs.into_iter().filter(|(_, spent)| *spent > 0.0) {
            groups.entry(("program", program)).or_default().add(value * spent / cost, spent);
        }
    }
    drop((referred, realised));

    table.push_f64("value_realised", values.iter().map(|v| v.realised).collect())?;
    table.push_f64("value_referred", values.iter().map(|v| v.referred).collect())?;
    table.push_f64("value_predicted", values.iter().map(|v| v.predicted).collect())?;
    table.push_f64("value", values.iter().map(CustomerValue::value).collect())?;
    table.push_f64("relationship_cost", values.iter().map(CustomerValue::cost).collect())?;
    table.push_f64("ror", values.iter().map(CustomerValue::ror).collect())?;
    drop(values);
    let mut columns = RorColumns::default();
    for (key, ratio) in &groups {
        columns.push(key.0, &key.1, ratio, uncosted.get(key).copied().unwrap_or(0), inputs.confidence);
    }
    let headline = groups.get(&("all", "all customers".to_string())).filter(|ratio| ratio.cost > 0.0).map(|ratio| {
        Headline::new(
            ratio.ror(inputs.confidence),
            "(value − relationship cost) / relationship cost, customers with a relationship cost",
            "customers with a relationship cost",
        )
    });
    let headline = headline.ok_or_else(|| match rates {
        Some(_) => "no customer has a relationship cost: [costs] per_contact prices conversations, but none is on a priced channel, and there are no reward or program costs".to_string(),
        None => "needs relationship costs: contact or reward rows in costs, program costs, or [costs] per_contact".to_string(),
    });
    let mut warnings = Vec::new();
    if rates.is_some() {
        // Priced conversations replace the costs file's contact rows: say what that leaves out.
        let unused: i128 = customers.iter().flat_map(|ror| ror.contact_costs.values()).map(|&micros| i128::from(micros)).sum();
        if unused != 0 {
            warnings.push(format!(
                "[costs] per_contact prices conversations, so the costs file's contact rows ({:.2} {} in all) are not counted in ROR",
                unused as f64 / 1e6,
                inputs.currency
            ));
        }
        if !unpriced.is_empty() {
            let channels: Vec<String> = unpriced.iter().map(|(channel, count)| format!("{channel}: {count}")).collect();
            warnings
                .push(format!("conversations on channels [costs] per_contact gives no rate cost nothing in ROR ({})", channels.join(", ")));
        }
    }
    // Conversations nothing prices: without contact rows or [costs] per_contact they cost
    // nothing, and a ROR of rewards and programs alone reads as a return on every contact.
    let contact_rows = customers.iter().any(|ror| !ror.contact_costs.is_empty());
    let conversations = table.f64("conversations").map_or(0.0, |counts| counts.iter().filter(|n| n.is_finite()).sum::<f64>());
    if rates.is_none() && !contact_rows && conversations > 0.0 && headline.is_ok() {
        warnings.push(format!(
            "the {conversations:.0} conversations cost nothing in ROR: the costs file has no contact rows and rapport.toml no [costs] per_contact, so ROR counts rewards and program costs only; price conversations with [costs] per_contact = {{ email = 1.50, chat = 0.80 }} (per conversation, by channel)"
        ));
    }
    let aggregates = json!({
        "value_basis": if margin_rate.is_some() { "margin" } else { "net spend" },
        "purchase_rows_with_margin": rows_with_margin,
        "purchase_rows": rows,
        "margin_rate": margin_rate,
        "contact_costs": if rates.is_some() { "[costs] per_contact × conversations" } else { "contact rows of the costs file" },
        "conversations_on_unpriced_channels": unpriced,
        "currency": inputs.currency,
    });
    let table = headline.is_ok().then(|| columns.table());
    Ok(Outcome { table, aggregates, headline, warnings })
}

fn channel_name(channel: Option<&str>) -> String {
    channel.unwrap_or("unstated").to_string()
}

#[derive(Default)]
struct RorColumns {
    dimension: Vec<Option<String>>,
    group: Vec<Option<String>>,
    customers: Vec<u64>,
    without_cost: Vec<u64>,
    value: Vec<f64>,
    cost: Vec<f64>,
    ror: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl RorColumns {
    fn push(&mut self, dimension: &str, group: &str, ratio: &Ratio, without_cost: u64, confidence: f64) {
        let interval = ratio.ror(confidence);
        self.dimension.push(Some(dimension.to_string()));
        self.group.push(Some(group.to_string()));
        self.customers.push(ratio.n);
        self.without_cost.push(without_cost);
        self.value.push(ratio.value);
        self.cost.push(ratio.cost);
        self.ror.push(interval.estimate);
        self.lower.push(interval.lower);
        self.upper.push(interval.upper);
    }

    fn table(self) -> Table {
        Table::new("ror")
            .column("dimension", Values::Text(self.dimension))
            .column("group", Values::Text(self.group))
            .column("customers", Values::Count(self.customers))
            .column("customers_without_cost", Values::Count(self.without_cost))
            .column("value", Values::Number(self.value))
            .column("relationship_cost", Values::Number(self.cost))
            .column("ror", Values::Number(self.ror))
            .column("ror_lower", Values::Number(self.lower))
            .column("ror_upper", Values::Number(self.upper))
    }
}
