//! Expressions over an export's columns, in SQL syntax: computed fields
//! (`= Quantity * UnitPrice`) and row filters (`InvoiceNo NOT LIKE 'C%'`).
//!
//! Parsing is sqlparser's (the SQL parser DataFusion uses), so the syntax is the SQL an
//! analyst already writes: columns by name (`"Unit Price"` or `` `Unit Price` `` when the
//! name has spaces), `'text'` literals, `+ - * / %`, `= != <> < <= > >=`, `AND OR NOT`,
//! `IS [NOT] NULL`, `[NOT] LIKE / ILIKE`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`,
//! `CASE WHEN … THEN … ELSE … END`, `CAST(… AS INTEGER | DOUBLE | TEXT | BOOLEAN)` (and
//! `TRY_CAST`, NULL where the value does not convert, and `::`), `SUBSTRING(… FROM … FOR …)`,
//! and the functions `lower, upper, trim, length, coalesce, abs, round, nullif, concat,
//! replace, substr, split_part`. Evaluation is written here: the values are an
//! export's text fields, read as numbers where arithmetic or a comparison with a number
//! asks for one (with the input's number format, so `12,50` under a decimal comma),
//! following SQL's three-valued logic (an empty field is NULL; a filter keeps a row only
//! when it is true).

use sqlparser::ast::{self, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::CoreError;
use crate::event::{NumberFormat, parse_amount};

/// A parsed expression, with the input columns it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    text: String,
    node: Node,
    columns: Vec<String>,
}

/// The value of an expression for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// SQL NULL: an empty or absent field, or an operation on one.
    Null,
    /// A number.
    Number(f64),
    /// A whole number, exactly: what `CAST(… AS INTEGER)` gives, so that a 19-digit id
    /// keeps every digit (an `f64` holds integers exactly only below 2^53).
    Integer(i64),
    /// Text.
    Text(String),
    /// True or false.
    Bool(bool),
}

/// Why an expression could not be evaluated for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// The column whose value was at fault (index into [`Expression::columns`]), if one was.
    pub column: Option<usize>,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Column(usize),
    Literal(Scalar),
    Negate(Box<Node>),
    Not(Box<Node>),
    Arithmetic(Arithmetic, Box<Node>, Box<Node>),
    Compare(Comparison, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IsNull { node: Box<Node>, negated: bool },
    Like { node: Box<Node>, pattern: Box<Node>, negated: bool, case_insensitive: bool },
    InList { node: Box<Node>, list: Vec<Node>, negated: bool },
    Between { node: Box<Node>, low: Box<Node>, high: Box<Node>, negated: bool },
    Case { operand: Option<Box<Node>>, branches: Vec<(Node, Node)>, otherwise: Option<Box<Node>> },
    Function(Function, Vec<Node>),
    Cast { node: Box<Node>, to: CastTarget, lenient: bool },
}

/// What `CAST` converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CastTarget {
    /// A whole number: rounded half away from zero, as PostgreSQL and DuckDB cast
    /// `3.5` and `'3.0'` (a float id `3.0` written by pandas becomes `3`).
    Integer,
    Number,
    Text,
    Bool,
}

impl CastTarget {
    /// The target of a SQL type name, by its family (`BIGINT`, `INT64` and `INTEGER` are
    /// whole numbers; `VARCHAR(20)`, `STRING` and `TEXT` are text).
    fn of(data_type: &ast::DataType) -> Option<CastTarget> {
        let name = data_type.to_string().to_ascii_lowercase();
        // The family: the name before any length, precision or modifier (`VARCHAR(20)`,
        // `DOUBLE PRECISION`, `INT UNSIGNED`).
        let family = name.split(['(', ' ']).next().unwrap_or_default();
        Some(match family {
            "int" | "integer" | "bigint" | "smallint" | "tinyint" | "mediumint" | "hugeint" | "int2" | "int4" | "int8" | "int16"
            | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64" | "ubigint" | "uinteger" | "usmallint" | "utinyint" => {
                CastTarget::Integer
            }
            "double" | "float" | "float4" | "float8" | "float32" | "float64" | "real" | "numeric" | "decimal" | "dec" | "number" => {
                CastTarget::Number
            }
            "varchar" | "text" | "string" | "char" | "character" | "nvarchar" | "nchar" | "clob" | "bpchar" => CastTarget::Text,
            "bool" | "boolean" => CastTarget::Bool,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arithmetic {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Lower,
    Upper,
    Trim,
    Length,
    Coalesce,
    Abs,
    Round,
    NullIf,
    Concat,
    Replace,
    Substr,
    SplitPart,
}

impl Function {
    const NAMES: &'static str = "lower, upper, trim, length, coalesce, abs, round, nullif, concat, replace, substr, split_part";

    fn from_name(name: &str) -> Option<Function> {
        Some(match name.to_ascii_lowercase().as_str() {
            "lower" => Function::Lower,
            "upper" => Function::Upper,
            "trim" => Function::Trim,
            "length" | "char_length" => Function::Length,
            "coalesce" => Function::Coalesce,
            "abs" => Function::Abs,
            "round" => Function::Round,
            "nullif" => Function::NullIf,
            "concat" => Function::Concat,
            "replace" => Function::Replace,
            "substr" | "substring" => Function::Substr,
            "split_part" => Function::SplitPart,
            _ => return None,
        })
    }

    fn arity(self) -> (usize, usize) {
        match self {
            Function::Coalesce | Function::Concat => (1, usize::MAX),
            Function::Round => (1, 2),
            Function::NullIf => (2, 2),
            Function::Replace | Function::SplitPart => (3, 3),
            Function::Substr => (2, 3),
            _ => (1, 1),
        }
    }
}

impl Expression {
    /// Parse `text` (SQL expression syntax).
    pub fn parse(text: &str) -> Result<Expression, CoreError> {
        let invalid = |message: String| CoreError::InvalidExpression { expression: text.to_string(), message };
        let parsed = Parser::new(&GenericDialect {})
            .try_with_sql(text)
            .and_then(|mut parser| {
                let expression = parser.parse_expr()?;
                parser.expect_token(&sqlparser::tokenizer::Token::EOF)?;
                Ok(expression)
            })
            .map_err(|error| invalid(error.to_string().trim_start_matches("sql parser error: ").to_string()))?;
        let mut columns = Vec::new();
        let node = convert(&parsed, &mut columns).map_err(invalid)?;
        Ok(Expression { text: text.to_string(), node, columns })
    }

    /// Parse a row filter: an expression that is true or false.
    pub fn parse_predicate(text: &str) -> Result<Expression, CoreError> {
        let expression = Expression::parse(text)?;
        let boolean = matches!(
            expression.node,
            Node::Compare(..)
                | Node::And(..)
                | Node::Or(..)
                | Node::Not(_)
                | Node::IsNull { .. }
                | Node::Like { .. }
                | Node::InList { .. }
                | Node::Between { .. }
                | Node::Literal(Scalar::Bool(_))
        );
        if !boolean {
            return Err(CoreError::InvalidExpression {
                expression: text.to_string(),
                message: "a filter must be a condition that is true or false, such as Status != 'cancelled' or Quantity > 0".into(),
            });
        }
        Ok(expression)
    }

    /// Parse a condition over a table's columns: a predicate as [`Expression::parse_predicate`]
    /// accepts, or a bare column of true/false values (`ambassador`).
    pub fn parse_condition(text: &str) -> Result<Expression, CoreError> {
        let expression = Expression::parse(text)?;
        if matches!(expression.node, Node::Column(_)) {
            return Ok(expression);
        }
        Expression::parse_predicate(text)
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The input columns the expression reads, in order of first use.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Evaluate for one row; `field(i)` is the text of column `i` of
    /// [`Expression::columns`] (`None`: empty or absent).
    pub fn evaluate<'a>(&self, field: &dyn Fn(usize) -> Option<&'a str>, numbers: NumberFormat) -> Result<Scalar, EvalError> {
        evaluate(&self.node, field, numbers)
    }

    /// Evaluate as a filter: whether the row is kept (true; false and NULL drop it).
    pub fn keeps<'a>(&self, field: &dyn Fn(usize) -> Option<&'a str>, numbers: NumberFormat) -> Result<bool, EvalError> {
        match self.evaluate(field, numbers)? {
            Scalar::Bool(keep) => Ok(keep),
            Scalar::Null => Ok(false),
            // A bare column of flags (a condition from `parse_condition`).
            Scalar::Text(text) if matches!(self.node, Node::Column(_)) => {
                truth(&self.node, Scalar::Text(text)).map(|value| value.unwrap_or(false))
            }
            other => Err(EvalError { column: None, value: other.to_text(), expected: "the filter to be true or false".into() }),
        }
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl Scalar {
    /// The value as text (numbers in their shortest exact form; NULL as empty).
    pub fn to_text(&self) -> String {
        match self {
            Scalar::Null => String::new(),
            Scalar::Number(number) => number.to_string(),
            Scalar::Integer(number) => number.to_string(),
            Scalar::Text(text) => text.clone(),
            Scalar::Bool(value) => value.to_string(),
        }
    }
}

fn column_index(name: &str, columns: &mut Vec<String>) -> usize {
    columns.iter().position(|column| column == name).unwrap_or_else(|| {
        columns.push(name.to_string());
        columns.len() - 1
    })
}

fn convert(expression: &Expr, columns: &mut Vec<String>) -> Result<Node, String> {
    let boxed = |expression: &Expr, columns: &mut Vec<String>| convert(expression, columns).map(Box::new);
    Ok(match expression {
        Expr::Identifier(ident) => {
            // An unquoted TRUE / FALSE / NULL reaches here in some dialect paths.
            if ident.quote_style.is_none() {
                match ident.value.to_ascii_lowercase().as_str() {
                    "true" => return Ok(Node::Literal(Scalar::Bool(true))),
                    "false" => return Ok(Node::Literal(Scalar::Bool(false))),
                    "null" => return Ok(Node::Literal(Scalar::Null)),
                    _ => {}
                }
            }
            Node::Column(column_index(&ident.value, columns))
        }
        Expr::CompoundIdentifier(parts) => {
            let name = parts.iter().map(|part| part.value.as_str()).collect::<Vec<_>>().join(".");
            Node::Column(column_index(&name, columns))
        }
        Expr::Value(value) if matches!(value.value, ast::Value::DoubleQuotedString(_)) => {
            let ast::Value::DoubleQuotedString(name) = &value.value else { unreachable!() };
            Node::Column(column_index(name, columns))
        }
        Expr::Value(value) => Node::Literal(match &value.value {
            ast::Value::Number(text, _) => Scalar::Number(text.parse::<f64>().map_err(|_| format!("{text} is not a number"))?),
            ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => Scalar::Text(text.clone()),
            ast::Value::Boolean(value) => Scalar::Bool(*value),
            ast::Value::Null => Scalar::Null,
            other => return Err(format!("{other} is not a value Rapport reads (numbers, 'text', TRUE, FALSE, NULL)")),
        }),
        Expr::Nested(inner) => convert(inner, columns)?,
        Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Minus => Node::Negate(boxed(expr, columns)?),
            UnaryOperator::Plus => convert(expr, columns)?,
            UnaryOperator::Not => Node::Not(boxed(expr, columns)?),
            other => return Err(format!("the operator {other} is not supported")),
        },
        Expr::BinaryOp { left, op, right } => {
            let (left, right) = (boxed(left, columns)?, boxed(right, columns)?);
            match op {
                BinaryOperator::Plus => Node::Arithmetic(Arithmetic::Add, left, right),
                BinaryOperator::Minus => Node::Arithmetic(Arithmetic::Subtract, left, right),
                BinaryOperator::Multiply => Node::Arithmetic(Arithmetic::Multiply, left, right),
                BinaryOperator::Divide => Node::Arithmetic(Arithmetic::Divide, left, right),
                BinaryOperator::Modulo => Node::Arithmetic(Arithmetic::Modulo, left, right),
                BinaryOperator::Eq => Node::Compare(Comparison::Equal, left, right),
                BinaryOperator::NotEq => Node::Compare(Comparison::NotEqual, left, right),
                BinaryOperator::Lt => Node::Compare(Comparison::Less, left, right),
                BinaryOperator::LtEq => Node::Compare(Comparison::LessOrEqual, left, right),
                BinaryOperator::Gt => Node::Compare(Comparison::Greater, left, right),
                BinaryOperator::GtEq => Node::Compare(Comparison::GreaterOrEqual, left, right),
                BinaryOperator::And => Node::And(left, right),
                BinaryOperator::Or => Node::Or(left, right),
                BinaryOperator::StringConcat => Node::Function(Function::Concat, vec![*left, *right]),
                other => return Err(format!("the operator {other} is not supported")),
            }
        }
        Expr::IsNull(inner) => Node::IsNull { node: boxed(inner, columns)?, negated: false },
        Expr::IsNotNull(inner) => Node::IsNull { node: boxed(inner, columns)?, negated: true },
        Expr::IsTrue(inner) => Node::Compare(Comparison::Equal, boxed(inner, columns)?, Box::new(Node::Literal(Scalar::Bool(true)))),
        Expr::IsFalse(inner) => Node::Compare(Comparison::Equal, boxed(inner, columns)?, Box::new(Node::Literal(Scalar::Bool(false)))),
        Expr::Like { negated, expr, pattern, escape_char: None, any: false } => {
            Node::Like { node: boxed(expr, columns)?, pattern: boxed(pattern, columns)?, negated: *negated, case_insensitive: false }
        }
        Expr::ILike { negated, expr, pattern, escape_char: None, any: false } => {
            Node::Like { node: boxed(expr, columns)?, pattern: boxed(pattern, columns)?, negated: *negated, case_insensitive: true }
        }
        Expr::InList { expr, list, negated } => Node::InList {
            node: boxed(expr, columns)?,
            list: list.iter().map(|item| convert(item, columns)).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        Expr::Between { expr, negated, low, high } => {
            Node::Between { node: boxed(expr, columns)?, low: boxed(low, columns)?, high: boxed(high, columns)?, negated: *negated }
        }
        Expr::Case { operand, conditions, else_result, .. } => Node::Case {
            operand: operand.as_deref().map(|operand| boxed(operand, columns)).transpose()?,
            branches: conditions
                .iter()
                .map(|branch| Ok((convert(&branch.condition, columns)?, convert(&branch.result, columns)?)))
                .collect::<Result<_, String>>()?,
            otherwise: else_result.as_deref().map(|otherwise| boxed(otherwise, columns)).transpose()?,
        },
        Expr::Cast { kind, expr, data_type, array: false, format: None } => {
            let Some(to) = CastTarget::of(data_type) else {
                return Err(format!("CAST to {data_type} is not supported (INTEGER, DOUBLE, TEXT and BOOLEAN are)"));
            };
            let lenient = matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast);
            Node::Cast { node: boxed(expr, columns)?, to, lenient }
        }
        Expr::Substring { expr, substring_from, substring_for, .. } => {
            let mut arguments = vec![convert(expr, columns)?];
            arguments.push(match substring_from {
                Some(from) => convert(from, columns)?,
                None => Node::Literal(Scalar::Number(1.0)),
            });
            if let Some(length) = substring_for {
                arguments.push(convert(length, columns)?);
            }
            Node::Function(Function::Substr, arguments)
        }
        Expr::Trim { expr, trim_where: None, trim_what: None, trim_characters: None } => {
            Node::Function(Function::Trim, vec![convert(expr, columns)?])
        }
        Expr::Function(function) => {
            let name = function.name.to_string();
            let Some(kind) = Function::from_name(&name) else {
                return Err(format!("unknown function {name} (known: {})", Function::NAMES));
            };
            let FunctionArguments::List(list) = &function.args else {
                return Err(format!("{name} needs its arguments in parentheses"));
            };
            let mut arguments = Vec::new();
            for argument in &list.args {
                match argument {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(expression)) => arguments.push(convert(expression, columns)?),
                    other => return Err(format!("argument {other} of {name} is not supported")),
                }
            }
            let (low, high) = kind.arity();
            if arguments.len() < low || arguments.len() > high {
                return Err(format!(
                    "{name} takes {} argument(s), not {}",
                    if low == high { low.to_string() } else { format!("{low} or more") },
                    arguments.len()
                ));
            }
            Node::Function(kind, arguments)
        }
        other => {
            return Err(format!(
                "{other} is not supported here (arithmetic, comparisons, LIKE, IN, BETWEEN, CASE and simple functions are)"
            ));
        }
    })
}

fn number(node: &Node, value: Scalar, numbers: NumberFormat) -> Result<Option<f64>, EvalError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(number) => Ok(Some(number)),
        Scalar::Integer(number) => Ok(Some(number as f64)),
        Scalar::Text(text) => match parse_amount(&text, numbers) {
            Some(number) => Ok(Some(number)),
            None => Err(EvalError {
                column: if let Node::Column(index) = node { Some(*index) } else { None },
                value: text,
                expected: "a number".into(),
            }),
        },
        Scalar::Bool(value) => Err(EvalError {
            column: if let Node::Column(index) = node { Some(*index) } else { None },
            value: value.to_string(),
            expected: "a number, not true or false".into(),
        }),
    }
}

fn evaluate<'a>(node: &Node, field: &dyn Fn(usize) -> Option<&'a str>, numbers: NumberFormat) -> Result<Scalar, EvalError> {
    let eval = |node: &Node| evaluate(node, field, numbers);
    Ok(match node {
        Node::Column(index) => field(*index).map_or(Scalar::Null, |text| Scalar::Text(text.to_string())),
        Node::Literal(value) => value.clone(),
        Node::Negate(inner) => number(inner, eval(inner)?, numbers)?.map_or(Scalar::Null, |value| Scalar::Number(-value)),
        Node::Not(inner) => match truth(inner, eval(inner)?)? {
            Some(value) => Scalar::Bool(!value),
            None => Scalar::Null,
        },
        Node::Arithmetic(operator, left, right) => {
            let (Some(a), Some(b)) = (number(left, eval(left)?, numbers)?, number(right, eval(right)?, numbers)?) else {
                return Ok(Scalar::Null);
            };
            let result = match operator {
                Arithmetic::Add => a + b,
                Arithmetic::Subtract => a - b,
                Arithmetic::Multiply => a * b,
                // Division by zero is NULL, as in most SQL engines' safe division; the
                // field is then empty (and a required field rejects the row).
                Arithmetic::Divide if b == 0.0 => return Ok(Scalar::Null),
                Arithmetic::Divide => a / b,
                Arithmetic::Modulo if b == 0.0 => return Ok(Scalar::Null),
                Arithmetic::Modulo => a % b,
            };
            Scalar::Number(result)
        }
        Node::Compare(operator, left, right) => match compare(left, eval(left)?, right, eval(right)?, numbers)? {
            None => Scalar::Null,
            Some(ordering) => Scalar::Bool(match operator {
                Comparison::Equal => ordering.is_eq(),
                Comparison::NotEqual => !ordering.is_eq(),
                Comparison::Less => ordering.is_lt(),
                Comparison::LessOrEqual => ordering.is_le(),
                Comparison::Greater => ordering.is_gt(),
                Comparison::GreaterOrEqual => ordering.is_ge(),
            }),
        },
        Node::And(left, right) => match (truth(left, eval(left)?)?, truth(right, eval(right)?)?) {
            (Some(false), _) | (_, Some(false)) => Scalar::Bool(false),
            (Some(true), Some(true)) => Scalar::Bool(true),
            _ => Scalar::Null,
        },
        Node::Or(left, right) => match (truth(left, eval(left)?)?, truth(right, eval(right)?)?) {
            (Some(true), _) | (_, Some(true)) => Scalar::Bool(true),
            (Some(false), Some(false)) => Scalar::Bool(false),
            _ => Scalar::Null,
        },
        Node::IsNull { node, negated } => Scalar::Bool((eval(node)? == Scalar::Null) != *negated),
        Node::Like { node, pattern, negated, case_insensitive } => match (eval(node)?, eval(pattern)?) {
            (Scalar::Null, _) | (_, Scalar::Null) => Scalar::Null,
            (value, pattern) => {
                let (mut value, mut pattern) = (value.to_text(), pattern.to_text());
                if *case_insensitive {
                    value = value.to_lowercase();
                    pattern = pattern.to_lowercase();
                }
                Scalar::Bool(like(value.as_bytes(), pattern.as_bytes()) != *negated)
            }
        },
        Node::InList { node, list, negated } => {
            let value = eval(node)?;
            if value == Scalar::Null {
                return Ok(Scalar::Null);
            }
            let mut unknown = false;
            for item in list {
                match compare(node, value.clone(), item, eval(item)?, numbers)? {
                    Some(ordering) if ordering.is_eq() => return Ok(Scalar::Bool(!*negated)),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown { Scalar::Null } else { Scalar::Bool(*negated) }
        }
        Node::Between { node, low, high, negated } => {
            let value = eval(node)?;
            let above = compare(node, value.clone(), low, eval(low)?, numbers)?;
            let below = compare(node, value, high, eval(high)?, numbers)?;
            match (above, below) {
                (Some(above), Some(below)) => Scalar::Bool((above.is_ge() && below.is_le()) != *negated),
                _ => Scalar::Null,
            }
        }
        Node::Case { operand, branches, otherwise } => {
            let subject = operand.as_deref().map(|operand| eval(operand).map(|value| (operand, value))).transpose()?;
            for (condition, result) in branches {
                let matched = match &subject {
                    Some((operand, value)) => {
                        compare(operand, value.clone(), condition, eval(condition)?, numbers)?.is_some_and(|ordering| ordering.is_eq())
                    }
                    None => truth(condition, eval(condition)?)? == Some(true),
                };
                if matched {
                    return eval(result);
                }
            }
            match otherwise {
                Some(otherwise) => eval(otherwise)?,
                None => Scalar::Null,
            }
        }
        Node::Cast { node, to, lenient } => {
            let value = eval(node)?;
            let converted = match to {
                CastTarget::Text => Ok(match value {
                    Scalar::Null => Scalar::Null,
                    other => Scalar::Text(other.to_text()),
                }),
                CastTarget::Number => match value {
                    Scalar::Bool(value) => Ok(Scalar::Number(f64::from(u8::from(value)))),
                    other => number(node, other, numbers).map(|value| value.map_or(Scalar::Null, Scalar::Number)),
                },
                CastTarget::Integer => whole_number(node, value, numbers),
                CastTarget::Bool => match value {
                    Scalar::Number(value) => Ok(Scalar::Bool(value != 0.0)),
                    Scalar::Integer(value) => Ok(Scalar::Bool(value != 0)),
                    other => truth(node, other).map(|value| value.map_or(Scalar::Null, Scalar::Bool)),
                },
            };
            match converted {
                Ok(value) => value,
                Err(_) if *lenient => Scalar::Null,
                Err(error) => return Err(error),
            }
        }
        Node::Function(function, arguments) => {
            let text = |index: usize| -> Result<Option<String>, EvalError> {
                Ok(match eval(&arguments[index])? {
                    Scalar::Null => None,
                    other => Some(other.to_text()),
                })
            };
            match function {
                Function::Lower => text(0)?.map_or(Scalar::Null, |value| Scalar::Text(value.to_lowercase())),
                Function::Upper => text(0)?.map_or(Scalar::Null, |value| Scalar::Text(value.to_uppercase())),
                Function::Trim => text(0)?.map_or(Scalar::Null, |value| Scalar::Text(value.trim().to_string())),
                Function::Length => text(0)?.map_or(Scalar::Null, |value| Scalar::Number(value.chars().count() as f64)),
                Function::Coalesce => {
                    for argument in arguments {
                        let value = eval(argument)?;
                        if value != Scalar::Null {
                            return Ok(value);
                        }
                    }
                    Scalar::Null
                }
                Function::Abs => {
                    number(&arguments[0], eval(&arguments[0])?, numbers)?.map_or(Scalar::Null, |value| Scalar::Number(value.abs()))
                }
                Function::Round => {
                    let value = number(&arguments[0], eval(&arguments[0])?, numbers)?;
                    let digits = match arguments.get(1) {
                        Some(digits) => number(digits, eval(digits)?, numbers)?,
                        None => Some(0.0),
                    };
                    match (value, digits) {
                        (Some(value), Some(digits)) => {
                            let scale = 10f64.powi(digits as i32);
                            Scalar::Number((value * scale).round() / scale)
                        }
                        _ => Scalar::Null,
                    }
                }
                Function::NullIf => {
                    let value = eval(&arguments[0])?;
                    let other = eval(&arguments[1])?;
                    match compare(&arguments[0], value.clone(), &arguments[1], other, numbers)? {
                        Some(ordering) if ordering.is_eq() => Scalar::Null,
                        _ => value,
                    }
                }
                Function::Concat => {
                    let mut joined = String::new();
                    for index in 0..arguments.len() {
                        if let Some(part) = text(index)? {
                            joined.push_str(&part);
                        }
                    }
                    Scalar::Text(joined)
                }
                Function::Replace => match (text(0)?, text(1)?, text(2)?) {
                    (Some(value), Some(from), Some(to)) if !from.is_empty() => Scalar::Text(value.replace(&from, &to)),
                    (Some(value), Some(_), Some(_)) => Scalar::Text(value),
                    _ => Scalar::Null,
                },
                Function::Substr => {
                    // SQL's 1-based positions in characters; a start before 1 eats into the
                    // length, as in PostgreSQL (`substr('abc', 0, 2)` is `'a'`).
                    let value = text(0)?;
                    let start = number(&arguments[1], eval(&arguments[1])?, numbers)?;
                    let length = match arguments.get(2) {
                        Some(length) => number(length, eval(length)?, numbers)?.map(Some),
                        None => Some(None),
                    };
                    match (value, start, length) {
                        (Some(value), Some(start), Some(length)) => {
                            let start = start.round() as i64;
                            let end = length.map(|length| start.saturating_add(length.round().max(0.0) as i64));
                            let skip = (start - 1).max(0) as usize;
                            let take = end.map_or(usize::MAX, |end| (end - 1 - skip as i64).max(0) as usize);
                            Scalar::Text(value.chars().skip(skip).take(take).collect())
                        }
                        _ => Scalar::Null,
                    }
                }
                Function::SplitPart => {
                    let part = number(&arguments[2], eval(&arguments[2])?, numbers)?;
                    match (text(0)?, text(1)?, part) {
                        (Some(value), Some(delimiter), Some(part)) => {
                            let part = part.round() as i64;
                            let pieces: Vec<&str> =
                                if delimiter.is_empty() { vec![value.as_str()] } else { value.split(delimiter.as_str()).collect() };
                            // Negative parts count from the end, as in PostgreSQL 14+.
                            let index = if part > 0 { Some(part - 1) } else { (part < 0).then(|| pieces.len() as i64 + part) };
                            match index.filter(|&index| index >= 0).and_then(|index| pieces.get(index as usize)) {
                                Some(piece) => Scalar::Text(piece.to_string()),
                                None if part == 0 => {
                                    return Err(EvalError {
                                        column: None,
                                        value: "0".into(),
                                        expected: "a split_part position other than 0".into(),
                                    });
                                }
                                None => Scalar::Text(String::new()),
                            }
                        }
                        _ => Scalar::Null,
                    }
                }
            }
        }
    })
}

/// `CAST(… AS INTEGER)`: rounded half away from zero, as PostgreSQL and DuckDB cast
/// `3.5` and `'3.0'`. Text of digits (with a sign, or a fraction of zeros such as
/// pandas' `3.0`) is read exactly rather than through an `f64`, so long ids keep every
/// digit; a value outside the 64-bit range is an error, not a wrapped number.
fn whole_number(node: &Node, value: Scalar, numbers: NumberFormat) -> Result<Scalar, EvalError> {
    let out_of_range = |value: String| EvalError {
        column: if let Node::Column(index) = node { Some(*index) } else { None },
        value,
        expected: "a whole number within ±9223372036854775807".into(),
    };
    match value {
        Scalar::Null => Ok(Scalar::Null),
        Scalar::Integer(value) => Ok(Scalar::Integer(value)),
        Scalar::Bool(value) => Ok(Scalar::Integer(i64::from(value))),
        Scalar::Text(text) => {
            let trimmed = text.trim();
            let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
            let digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
            if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) && fraction.bytes().all(|byte| byte == b'0') {
                return whole
                    .strip_prefix('+')
                    .unwrap_or(whole)
                    .parse::<i64>()
                    .map(Scalar::Integer)
                    .map_err(|_| out_of_range(text.clone()));
            }
            whole_number(node, number(node, Scalar::Text(text), numbers)?.map_or(Scalar::Null, Scalar::Number), numbers)
        }
        Scalar::Number(value) => {
            let rounded = value.round();
            // 2^63 is the first f64 past i64::MAX.
            if rounded.is_finite() && rounded.abs() < 9_223_372_036_854_775_808.0 {
                Ok(Scalar::Integer(rounded as i64))
            } else {
                Err(out_of_range(value.to_string()))
            }
        }
    }
}

/// `value` as true or false; a fault names the column when `node` reads one.
fn truth(node: &Node, value: Scalar) -> Result<Option<bool>, EvalError> {
    let fault = |value: String, expected: &str| EvalError {
        column: if let Node::Column(index) = node { Some(*index) } else { None },
        value,
        expected: expected.into(),
    };
    match value {
        Scalar::Bool(value) => Ok(Some(value)),
        Scalar::Null => Ok(None),
        Scalar::Text(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Ok(Some(true)),
            "false" | "f" | "no" | "n" | "0" => Ok(Some(false)),
            _ => Err(fault(text, "true/false, yes/no, t/f, y/n or 1/0")),
        },
        Scalar::Number(number) => Err(fault(number.to_string(), "true/false, yes/no, t/f, y/n or 1/0, not a computed number")),
        Scalar::Integer(number) => Err(fault(number.to_string(), "true/false, yes/no, t/f, y/n or 1/0, not a computed number")),
    }
}

/// Compare two values: as numbers when either is a number (the other read as one), as
/// true/false when either is, else as text. `None` when either is NULL.
fn compare(
    left_node: &Node,
    left: Scalar,
    right_node: &Node,
    right: Scalar,
    numbers: NumberFormat,
) -> Result<Option<std::cmp::Ordering>, EvalError> {
    if left == Scalar::Null || right == Scalar::Null {
        return Ok(None);
    }
    if let (Scalar::Integer(a), Scalar::Integer(b)) = (&left, &right) {
        return Ok(Some(a.cmp(b)));
    }
    if matches!(left, Scalar::Number(_) | Scalar::Integer(_)) || matches!(right, Scalar::Number(_) | Scalar::Integer(_)) {
        let (Some(a), Some(b)) = (number(left_node, left, numbers)?, number(right_node, right, numbers)?) else {
            return Ok(None);
        };
        return Ok(a.partial_cmp(&b));
    }
    if matches!(left, Scalar::Bool(_)) || matches!(right, Scalar::Bool(_)) {
        let (Some(a), Some(b)) = (truth(left_node, left)?, truth(right_node, right)?) else {
            return Ok(None);
        };
        return Ok(Some(a.cmp(&b)));
    }
    Ok(Some(left.to_text().cmp(&right.to_text())))
}

/// SQL LIKE: `%` any run of characters, `_` one character. Backtracking on the last
/// `%` only, which is linear for the patterns people write.
fn like(value: &[u8], pattern: &[u8]) -> bool {
    let value = String::from_utf8_lossy(value).chars().collect::<Vec<_>>();
    let pattern = String::from_utf8_lossy(pattern).chars().collect::<Vec<_>>();
    let (mut v, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '_' || (pattern[p] != '%' && pattern[p] == value[v])) {
            v += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '%' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, row: &[(&str, Option<&str>)]) -> Result<Scalar, EvalError> {
        let expression = Expression::parse(text).expect("parses");
        let values: Vec<Option<&str>> =
            expression.columns().iter().map(|name| row.iter().find(|(column, _)| column == name).and_then(|(_, value)| *value)).collect();
        expression.evaluate(&|index| values[index], NumberFormat::default())
    }

    #[test]
    fn arithmetic_over_columns() {
        assert_eq!(run("Quantity * UnitPrice", &[("Quantity", Some("3")), ("UnitPrice", Some("2.55"))]), Ok(Scalar::Number(3.0 * 2.55)));
        assert_eq!(run("\"Unit Price\" * -1", &[("Unit Price", Some("€4.00"))]), Ok(Scalar::Number(-4.0)));
        assert_eq!(run("`Unit Price` + 1", &[("Unit Price", Some("1"))]), Ok(Scalar::Number(2.0)));
        assert_eq!(run("a / b", &[("a", Some("1")), ("b", Some("0"))]), Ok(Scalar::Null));
        assert_eq!(run("a + 1", &[("a", None)]), Ok(Scalar::Null));
        let error = run("a * 2", &[("a", Some("three"))]).expect_err("not a number");
        assert_eq!((error.column, error.value.as_str(), error.expected.as_str()), (Some(0), "three", "a number"));
    }

    #[test]
    fn decimal_comma_numbers_follow_the_input_format() {
        let expression = Expression::parse("q * p").expect("parses");
        let values = [Some("2"), Some("1.234,50")];
        let comma = NumberFormat { decimal_comma: true };
        assert_eq!(expression.evaluate(&|index| values[index], comma), Ok(Scalar::Number(2469.0)));
    }

    #[test]
    fn filters_follow_three_valued_logic() {
        let filter = Expression::parse_predicate("InvoiceNo NOT LIKE 'C%' AND Quantity > 0").expect("parses");
        let keeps = |invoice: Option<&str>, quantity: Option<&str>| {
            let values = [invoice, quantity];
            filter.keeps(&|index| values[index], NumberFormat::default())
        };
        assert_eq!(keeps(Some("536365"), Some("6")), Ok(true));
        assert_eq!(keeps(Some("C536379"), Some("6")), Ok(false));
        assert_eq!(keeps(Some("536365"), Some("-1")), Ok(false));
        assert_eq!(keeps(None, Some("1")), Ok(false), "NULL is not true");
        assert_eq!(keeps(Some("536365"), Some("x")).expect_err("x is not a number").value, "x");
        assert!(Expression::parse_predicate("Quantity * 2").is_err(), "not a condition");
    }

    #[test]
    fn comparisons_in_between_case_and_functions() {
        assert_eq!(run("status IN ('cancelled', 'void')", &[("status", Some("void"))]), Ok(Scalar::Bool(true)));
        assert_eq!(run("score BETWEEN 0 AND 10", &[("score", Some("10"))]), Ok(Scalar::Bool(true)));
        assert_eq!(run("score BETWEEN 0 AND 10", &[("score", Some("11"))]), Ok(Scalar::Bool(false)));
        assert_eq!(run("x = '10'", &[("x", Some("10.0"))]), Ok(Scalar::Bool(false)), "text compares as text");
        assert_eq!(run("x = 10", &[("x", Some("10.0"))]), Ok(Scalar::Bool(true)), "a number compares as a number");
        assert_eq!(
            run("CASE WHEN kind = 'refund' THEN -amount ELSE amount END", &[("kind", Some("refund")), ("amount", Some("5"))]),
            Ok(Scalar::Number(-5.0))
        );
        assert_eq!(run("CASE src WHEN 'tw' THEN 'social' END", &[("src", Some("tw"))]), Ok(Scalar::Text("social".into())));
        assert_eq!(run("lower(trim(Channel))", &[("Channel", Some("  EMAIL "))]), Ok(Scalar::Text("email".into())));
        assert_eq!(run("coalesce(a, b, 'none')", &[("a", None), ("b", None)]), Ok(Scalar::Text("none".into())));
        assert_eq!(run("round(a, 2)", &[("a", Some("2.345001"))]), Ok(Scalar::Number(2.35)));
        assert_eq!(run("name ILIKE '%smith'", &[("name", Some("Jo SMITH"))]), Ok(Scalar::Bool(true)));
        assert_eq!(run("a || '-' || b", &[("a", Some("x")), ("b", Some("y"))]), Ok(Scalar::Text("x-y".into())));
    }

    /// The string functions give PostgreSQL's documented examples (PostgreSQL 16 manual,
    /// "String Functions and Operators").
    #[test]
    fn string_functions_match_the_postgresql_manual() {
        let text = |value: &str| Ok(Scalar::Text(value.into()));
        assert_eq!(run("substr('alphabet', 3, 2)", &[]), text("ph"));
        assert_eq!(run("substr('alphabet', 3)", &[]), text("phabet"));
        assert_eq!(run("SUBSTRING('Thomas' FROM 2 FOR 3)", &[]), text("hom"));
        assert_eq!(run("substring('Thomas', 3)", &[]), text("omas"));
        assert_eq!(run("substr('abc', 0, 2)", &[]), text("a"), "a start before 1 eats into the length");
        assert_eq!(run("substr('héllo', 2, 3)", &[]), text("éll"), "positions are characters, not bytes");
        assert_eq!(run("split_part('abc~@~def~@~ghi', '~@~', 2)", &[]), text("def"));
        assert_eq!(run("split_part('abc,def,ghi,jkl', ',', -2)", &[]), text("ghi"));
        assert_eq!(run("split_part('abc,def', ',', 5)", &[]), text(""));
        assert!(run("split_part('abc,def', ',', 0)", &[]).is_err());
        assert_eq!(run("replace('abcdefabcdef', 'cd', 'XX')", &[]), text("abXXefabXXef"));
        assert_eq!(run("replace(id, '-', '')", &[("id", Some("C-00-17"))]), text("C0017"));
        assert_eq!(run("replace(id, '-', '')", &[("id", None)]), Ok(Scalar::Null));
    }

    /// CAST as PostgreSQL and DuckDB do it: to a whole number rounds half away from zero
    /// (`CAST(3.5 AS INTEGER)` is 4 in both), text that is not a number is an error for
    /// CAST and NULL for TRY_CAST.
    #[test]
    fn casts_convert_as_sql_engines_do() {
        fn id(value: &str) -> [(&'static str, Option<&str>); 1] {
            [("in_response_to_tweet_id", Some(value))]
        }
        // pandas writes an id column with blanks as floats: 3.0 is tweet 3.
        assert_eq!(run("CAST(in_response_to_tweet_id AS BIGINT)", &id("3.0")), Ok(Scalar::Integer(3)));
        // A 19-digit tweet id keeps every digit (through an f64 it would end ...800).
        assert_eq!(
            run("CAST(in_response_to_tweet_id AS BIGINT)", &id("1234567890123456789")),
            Ok(Scalar::Integer(1_234_567_890_123_456_789))
        );
        assert_eq!(
            run("CAST(CAST(x AS BIGINT) AS TEXT)", &[("x", Some("1234567890123456789"))]),
            Ok(Scalar::Text("1234567890123456789".into()))
        );
        assert_eq!(run("CAST(x AS INTEGER) < CAST(y AS INTEGER)", &[("x", Some("9")), ("y", Some("10"))]), Ok(Scalar::Bool(true)));
        assert!(run("CAST(x AS BIGINT)", &[("x", Some("99999999999999999999"))]).is_err_and(|error| error.expected.contains("within")));
        assert!(run("CAST(x AS INTEGER)", &[("x", Some("1e300"))]).is_err_and(|error| error.expected.contains("within")));
        assert_eq!(run("CAST(CAST(in_response_to_tweet_id AS INTEGER) AS VARCHAR)", &id("3.0")), Ok(Scalar::Text("3".into())));
        assert_eq!(run("in_response_to_tweet_id::int", &id("3.0")), Ok(Scalar::Integer(3)));
        assert_eq!(run("CAST(x AS INTEGER)", &[("x", Some("3.5"))]), Ok(Scalar::Integer(4)));
        assert_eq!(run("CAST(x AS INTEGER)", &[("x", Some("-3.5"))]), Ok(Scalar::Integer(-4)));
        assert_eq!(run("CAST(x AS DOUBLE)", &[("x", Some("2.5"))]), Ok(Scalar::Number(2.5)));
        assert_eq!(run("CAST(x AS BOOLEAN)", &[("x", Some("yes"))]), Ok(Scalar::Bool(true)));
        assert_eq!(run("CAST(x AS INTEGER)", &[("x", None)]), Ok(Scalar::Null));
        let error = run("CAST(x AS INTEGER)", &[("x", Some("n/a"))]).expect_err("not a number");
        assert_eq!((error.column, error.value.as_str(), error.expected.as_str()), (Some(0), "n/a", "a number"));
        assert_eq!(run("TRY_CAST(x AS INTEGER)", &[("x", Some("n/a"))]), Ok(Scalar::Null));
        assert!(Expression::parse("CAST(x AS DATE)").expect_err("no dates").to_string().contains("INTEGER, DOUBLE, TEXT and BOOLEAN"));
        assert!(Expression::parse("CAST(x AS FLOAT8X)").is_err(), "a type is matched by its whole name");
        assert!(Expression::parse("CAST(x AS VARCHAR(20))").is_ok() && Expression::parse("CAST(x AS DOUBLE PRECISION)").is_ok());
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (text, says) in [
            ("Quantity *", "Expected"),
            ("frobnicate(a)", "unknown function frobnicate"),
            ("a b", "Expected"),
            ("(SELECT 1)", "not supported"),
            ("round()", "takes"),
        ] {
            let error = Expression::parse(text).expect_err(text).to_string();
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.contains(text), "{text}: the message quotes the expression: {error}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like(b"C536379", b"C%"));
        assert!(!like(b"536379", b"C%"));
        assert!(like(b"abc", b"a_c"));
        assert!(like(b"abcbc", b"%bc"));
        assert!(like(b"", b"%"));
        assert!(!like(b"ab", b"a"));
    }
}
