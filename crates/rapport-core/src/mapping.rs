//! How an export's columns become an event kind's fields.
//!
//! Each field comes from a column (by default the column named like the field), a
//! constant (`[set.surveys] survey_type = "csat"`, `--set survey_type=csat`), or an
//! expression over columns (`amount = "= Quantity * UnitPrice"`: a mapping that starts
//! with `=` is computed, as in a spreadsheet). A row filter (`[filter] purchases =
//! "InvoiceNo NOT LIKE 'C%'"`, `--where …`) keeps the rows for which it is true. The
//! workspace's `rapport.toml` gives the defaults; the command line overrides them field
//! by field, and its filter applies on top of the workspace's (both must hold).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::CoreError;
use crate::config::WorkspaceConfig;
use crate::event::{EventKind, NumberFormat};
use crate::expression::{EvalError, Expression, Scalar};

/// Where one field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSource {
    /// An input column, by name.
    Column(String),
    /// The same text for every row.
    Constant(String),
    /// Computed from columns.
    Computed(Expression),
}

impl FieldSource {
    /// Read a mapping value: `=expression` is computed, anything else names a column.
    pub fn parse(value: &str) -> Result<FieldSource, CoreError> {
        match value.trim().strip_prefix('=') {
            Some(expression) => Ok(FieldSource::Computed(Expression::parse(expression.trim())?)),
            None => Ok(FieldSource::Column(value.trim().to_string())),
        }
    }
}

/// What the command line adds to the workspace's mapping for one ingest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappingOverrides {
    /// `FIELD=COLUMN` or `FIELD==EXPRESSION` (`--map`).
    pub map: BTreeMap<String, String>,
    /// `FIELD=VALUE` constants (`--set`).
    pub set: BTreeMap<String, String>,
    /// A row filter (`--where`), applied with the workspace's.
    pub filter: Option<String>,
    /// Amounts are written with a decimal comma (`--decimal-comma`).
    pub decimal_comma: bool,
}

/// A kind's mapping, resolved against the workspace's configuration and the command
/// line: the input columns to read and how each field is made from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    kind: EventKind,
    columns: Vec<InputColumn>,
    fields: Vec<Bound>,
    filters: Vec<(Expression, Vec<usize>)>,
    numbers: NumberFormat,
}

/// An input column a mapping reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputColumn {
    /// Its name in the input.
    pub name: String,
    /// Whether the input must have it (a required field's column, or one an expression
    /// or filter reads).
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Column(usize),
    Constant(String),
    Computed(Expression, Vec<usize>),
}

/// A field's value for one row, before it is checked against the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Empty or absent.
    Missing,
    /// Text, to be parsed as the field's type.
    Text(Cow<'a, str>),
    /// A computed number.
    Number(f64),
    /// A computed true / false.
    Flag(bool),
}

/// Why a row could not be mapped: the column (or expression) at fault, the value found
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingFault {
    /// The input column, or the expression when no single column is at fault.
    pub column: String,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

/// Say where a bad expression was written.
fn located(error: CoreError, place: &str) -> CoreError {
    match error {
        CoreError::InvalidExpression { expression, message } => {
            CoreError::InvalidExpression { expression, message: format!("{message} (in {place})") }
        }
        other => other,
    }
}

fn check_field(kind: EventKind, field: &str, what: &str) -> Result<(), CoreError> {
    if kind.fields().iter().any(|spec| spec.name == field) {
        return Ok(());
    }
    let names: Vec<_> = kind.fields().iter().map(|spec| spec.name).collect();
    Err(CoreError::InvalidOption {
        option: "mapping",
        reason: format!("{what}: {field:?} is not a field of {kind} ({})", names.join(", ")),
    })
}

impl Mapping {
    /// Resolve `kind`'s mapping: each field from the command line's `--set` or `--map`,
    /// else the workspace's `[set.KIND]` or `[mapping.KIND]`, else the column named
    /// like the field.
    pub fn resolve(kind: EventKind, config: &WorkspaceConfig, overrides: &MappingOverrides) -> Result<Mapping, CoreError> {
        let mut sources: Vec<FieldSource> = kind.fields().iter().map(|spec| FieldSource::Column(spec.name.to_string())).collect();
        // A column the user named must exist, whether or not its field is required: a
        // typo in an optional field's mapping would otherwise store nothing, silently.
        let mut named = vec![false; sources.len()];
        let index = |field: &str| kind.fields().iter().position(|spec| spec.name == field);
        let layers = [
            ("rapport.toml [mapping]", config.mapping.get(kind.name()), false),
            ("rapport.toml [set]", config.set.get(kind.name()), true),
            ("--map", Some(&overrides.map), false),
            ("--set", Some(&overrides.set), true),
        ];
        for (what, layer, constant) in layers {
            for (field, value) in layer.into_iter().flatten() {
                check_field(kind, field, what)?;
                let source = if constant {
                    FieldSource::Constant(value.clone())
                } else {
                    FieldSource::parse(value).map_err(|error| located(error, &format!("{what} {field}")))?
                };
                if matches!(&source, FieldSource::Column(column) if column.is_empty()) {
                    return Err(CoreError::InvalidOption { option: "mapping", reason: format!("{what}: {field} names no column") });
                }
                if let Some(position) = index(field) {
                    named[position] = !constant;
                    sources[position] = source;
                }
            }
        }
        let mut filters = Vec::new();
        if let Some(text) = config.filter.get(kind.name()) {
            filters.push(Expression::parse_predicate(text).map_err(|error| located(error, &format!("rapport.toml [filter] {kind}")))?);
        }
        if let Some(text) = &overrides.filter {
            filters.push(Expression::parse_predicate(text).map_err(|error| located(error, "--where"))?);
        }
        let numbers =
            NumberFormat { decimal_comma: overrides.decimal_comma || config.decimal_comma.get(kind.name()).copied().unwrap_or(false) };
        Ok(Mapping::bind(kind, sources, &named, filters, numbers))
    }

    /// Each field from the column named like it, no filter.
    pub fn identity(kind: EventKind) -> Mapping {
        let sources = kind.fields().iter().map(|spec| FieldSource::Column(spec.name.to_string())).collect();
        Mapping::bind(kind, sources, &[], Vec::new(), NumberFormat::default())
    }

    fn bind(kind: EventKind, sources: Vec<FieldSource>, named: &[bool], filters: Vec<Expression>, numbers: NumberFormat) -> Mapping {
        let mut columns: Vec<InputColumn> = Vec::new();
        let mut add = |name: &str, required: bool| -> usize {
            match columns.iter().position(|column| column.name == name) {
                Some(position) => {
                    columns[position].required |= required;
                    position
                }
                None => {
                    columns.push(InputColumn { name: name.to_string(), required });
                    columns.len() - 1
                }
            }
        };
        let mut fields = Vec::with_capacity(sources.len());
        for (position, (spec, source)) in kind.fields().iter().zip(sources).enumerate() {
            let named = named.get(position).copied().unwrap_or(false);
            fields.push(match source {
                FieldSource::Column(name) => Bound::Column(add(&name, spec.required || named)),
                FieldSource::Constant(value) => Bound::Constant(value),
                FieldSource::Computed(expression) => {
                    let indexes = expression.columns().iter().map(|name| add(name, true)).collect();
                    Bound::Computed(expression, indexes)
                }
            });
        }
        let filters = filters
            .into_iter()
            .map(|expression| {
                let indexes = expression.columns().iter().map(|name| add(name, true)).collect();
                (expression, indexes)
            })
            .collect();
        Mapping { kind, columns, fields, filters, numbers }
    }

    /// The kind mapped.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The input columns to read, in the order rows are handed to [`Mapping::keeps`]
    /// and [`Mapping::value`].
    pub fn columns(&self) -> &[InputColumn] {
        &self.columns
    }

    /// How numbers are written in the input.
    pub fn numbers(&self) -> NumberFormat {
        self.numbers
    }

    /// Whether the field at `index` (of the kind's fields) is read from a column
    /// (rather than set or computed), and which.
    pub fn column_of(&self, index: usize) -> Option<&str> {
        match &self.fields[index] {
            Bound::Column(position) => Some(&self.columns[*position].name),
            _ => None,
        }
    }

    /// Where the field at `index` comes from, for messages: its column, `field (= expression)`
    /// or `field (set to "value")`.
    pub fn describe(&self, index: usize) -> String {
        match &self.fields[index] {
            Bound::Column(position) => self.columns[*position].name.clone(),
            Bound::Constant(value) => format!("{} (set to {value:?})", self.kind.fields()[index].name),
            Bound::Computed(expression, _) => format!("{} (= {expression})", self.kind.fields()[index].name),
        }
    }

    /// For a field computed from input columns, the first of those columns that is empty
    /// in the row `fields`: a computed value that is missing names what the file lacks
    /// rather than the expression.
    pub fn empty_input(&self, index: usize, fields: &[Option<&str>]) -> Option<&str> {
        match &self.fields[index] {
            Bound::Computed(_, indexes) => {
                indexes.iter().find(|position| fields[**position].is_none()).map(|position| self.columns[*position].name.as_str())
            }
            _ => None,
        }
    }

    /// Whether the row (`fields`: the input columns, in the order of
    /// [`Mapping::columns`]) passes every filter.
    pub fn keeps(&self, fields: &[Option<&str>]) -> Result<bool, MappingFault> {
        for (filter, indexes) in &self.filters {
            let keep = filter.keeps(&|column| fields[indexes[column]], self.numbers).map_err(|error| self.fault(filter, indexes, error))?;
            if !keep {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The value of the field at `index` for the row `fields`.
    pub fn value<'a>(&self, index: usize, fields: &[Option<&'a str>]) -> Result<FieldValue<'a>, MappingFault> {
        Ok(match &self.fields[index] {
            Bound::Column(position) => fields[*position].map_or(FieldValue::Missing, |text| FieldValue::Text(Cow::Borrowed(text))),
            Bound::Constant(value) if value.is_empty() => FieldValue::Missing,
            Bound::Constant(value) => FieldValue::Text(Cow::Owned(value.clone())),
            Bound::Computed(expression, indexes) => {
                match expression
                    .evaluate(&|column| fields[indexes[column]], self.numbers)
                    .map_err(|error| self.fault(expression, indexes, error))?
                {
                    Scalar::Null => FieldValue::Missing,
                    Scalar::Number(number) if !number.is_finite() => {
                        return Err(MappingFault {
                            column: format!("= {expression}"),
                            value: number.to_string(),
                            expected: "a finite number".into(),
                        });
                    }
                    Scalar::Number(number) => FieldValue::Number(number),
                    // Every digit, as text (an id, or an amount read from its text).
                    Scalar::Integer(number) => FieldValue::Text(Cow::Owned(number.to_string())),
                    Scalar::Bool(flag) => FieldValue::Flag(flag),
                    Scalar::Text(text) if text.is_empty() => FieldValue::Missing,
                    Scalar::Text(text) => FieldValue::Text(Cow::Owned(text)),
                }
            }
        })
    }

    fn fault(&self, expression: &Expression, indexes: &[usize], error: EvalError) -> MappingFault {
        let column = match error.column {
            Some(column) => self.columns[indexes[column]].name.clone(),
            None => format!("= {expression}"),
        };
        MappingFault { column, value: error.value, expected: format!("{} (in {expression})", error.expected) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> WorkspaceConfig {
        toml::from_str(text).expect("valid config")
    }

    #[test]
    fn columns_constants_expressions_and_filters_from_config_and_command_line() {
        let config = config(
            r#"
            version = 1
            [mapping.purchases]
            customer_id = "CustomerID"
            time = "InvoiceDate"
            amount = "= Quantity * UnitPrice"
            [set.purchases]
            currency = "GBP"
            [filter]
            purchases = "InvoiceNo NOT LIKE 'C%'"
            "#,
        );
        let mapping = Mapping::resolve(EventKind::Purchases, &config, &MappingOverrides::default()).expect("resolves");
        let names: Vec<_> = mapping.columns().iter().map(|column| column.name.as_str()).collect();
        assert_eq!(names[..5], ["event_id", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice"]);
        assert!(names.contains(&"InvoiceNo"));
        let row = |invoice: &'static str| -> Vec<Option<&'static str>> {
            mapping
                .columns()
                .iter()
                .map(|column| match column.name.as_str() {
                    "CustomerID" => Some("17850"),
                    "InvoiceDate" => Some("2010-12-01 08:26"),
                    "Quantity" => Some("6"),
                    "UnitPrice" => Some("2.55"),
                    "InvoiceNo" => Some(invoice),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(mapping.keeps(&row("536365")), Ok(true));
        assert_eq!(mapping.keeps(&row("C536379")), Ok(false));
        let amount = EventKind::Purchases.fields().iter().position(|spec| spec.name == "amount").expect("field");
        let currency = EventKind::Purchases.fields().iter().position(|spec| spec.name == "currency").expect("field");
        assert_eq!(mapping.value(amount, &row("536365")), Ok(FieldValue::Number(6.0 * 2.55)));
        assert_eq!(mapping.value(currency, &row("536365")), Ok(FieldValue::Text("GBP".into())));

        // The command line wins field by field, and its filter applies as well.
        let overrides = MappingOverrides {
            map: BTreeMap::from([("amount".to_string(), "Total".to_string())]),
            filter: Some("Country = 'France'".into()),
            ..MappingOverrides::default()
        };
        let mapping = Mapping::resolve(EventKind::Purchases, &config, &overrides).expect("resolves");
        assert_eq!(mapping.column_of(amount), Some("Total"));
        let names: Vec<_> = mapping.columns().iter().map(|column| column.name.as_str()).collect();
        assert!(names.contains(&"InvoiceNo") && names.contains(&"Country") && !names.contains(&"Quantity"));
    }

    #[test]
    fn unknown_fields_and_bad_expressions_are_refused() {
        let bad_field = config("version = 1\n[set.surveys]\nkind = \"csat\"\n");
        let error = Mapping::resolve(EventKind::Surveys, &bad_field, &MappingOverrides::default()).expect_err("not a field");
        assert!(error.to_string().contains("survey_type"), "{error}");
        let bad_filter = config("version = 1\n[filter]\npurchases = \"amount *\"\n");
        assert_eq!(
            Mapping::resolve(EventKind::Purchases, &bad_filter, &MappingOverrides::default()).expect_err("bad").code(),
            "invalid_expression"
        );
    }

    #[test]
    fn faults_name_the_column() {
        let overrides =
            MappingOverrides { map: BTreeMap::from([("amount".to_string(), "=q * p".to_string())]), ..MappingOverrides::default() };
        let mapping = Mapping::resolve(EventKind::Purchases, &WorkspaceConfig::default(), &overrides).expect("resolves");
        let amount = EventKind::Purchases.fields().iter().position(|spec| spec.name == "amount").expect("field");
        let fields: Vec<Option<&str>> =
            mapping.columns().iter().map(|column| if column.name == "q" { Some("two") } else { Some("1") }).collect();
        let fault = mapping.value(amount, &fields).expect_err("not a number");
        assert_eq!(fault.column, "q");
        assert_eq!(fault.value, "two");
        assert!(fault.expected.starts_with("a number (in q * p)"), "{}", fault.expected);

        // A cast to true/false names the column read, not the expression.
        let overrides = MappingOverrides {
            map: BTreeMap::from([("resolved".to_string(), "=CAST(closed AS BOOLEAN)".to_string())]),
            ..MappingOverrides::default()
        };
        let mapping = Mapping::resolve(EventKind::Interactions, &WorkspaceConfig::default(), &overrides).expect("resolves");
        let resolved = EventKind::Interactions.fields().iter().position(|spec| spec.name == "resolved").expect("field");
        let fields: Vec<Option<&str>> =
            mapping.columns().iter().map(|column| if column.name == "closed" { Some("maybe") } else { Some("1") }).collect();
        let fault = mapping.value(resolved, &fields).expect_err("not true or false");
        assert_eq!((fault.column.as_str(), fault.value.as_str()), ("closed", "maybe"));
        assert!(fault.expected.starts_with("true/false, yes/no, t/f, y/n or 1/0 (in CAST(closed AS BOOLEAN))"), "{}", fault.expected);
    }
}
