//! PostgreSQL as a source of events and a sink for scores.
//!
//! - **Source**: a table or a query, streamed out with `COPY (…) TO STDOUT` as CSV with a
//!   header, so that it goes through exactly the same reader, mapping, validation and
//!   quarantine as a CSV file. The session is set to UTC with ISO dates first, so that
//!   `timestamptz` values arrive with their offset and `timestamp` values as written.
//! - **Sink**: the rows of a results table upserted into a table by a key column (the
//!   customer id): created when missing, with a primary key on the key; columns the
//!   table lacks are added; rows whose key is there are updated, the others inserted, in
//!   one transaction (a failed upsert changes nothing).
//!
//! Connections are plain TCP or a Unix socket, without TLS (`sslmode=disable` or
//! `prefer`): the client is the `postgres` crate without a TLS connector. A password can
//! come from the connection string or from `PGPASSWORD`, a user from `PGUSER` or `USER`.

use std::io::Write;

use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use postgres::config::Host;
use postgres::{Client, Config, NoTls};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection string could not be read.
    #[error("connection string: {0}")]
    BadConnectionString(String),
    /// The server could not be reached or refused the connection.
    #[error("could not connect to {server}: {message}")]
    Connect {
        /// The server, without the password.
        server: String,
        /// What the client said.
        message: String,
    },
    /// A statement failed on the server (the message is the server's).
    #[error("{server}: {message}")]
    Statement {
        /// The server, without the password.
        server: String,
        /// What the server said, with its hint when it gave one.
        message: String,
    },
    /// Writing the copied rows.
    #[error("writing the rows copied from {server}: {source}")]
    Io {
        /// The server, without the password.
        server: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A request that cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
}

impl PostgresError {
    /// A stable code for the front ends.
    pub fn code(&self) -> &'static str {
        match self {
            PostgresError::BadConnectionString(_) => "bad_connection_string",
            PostgresError::Connect { .. } => "postgres_connect",
            PostgresError::Statement { .. } => "postgres_statement",
            PostgresError::Io { .. } => "write_failed",
            PostgresError::Invalid(_) => "invalid_request",
        }
    }
}

/// What to read: a table (optionally schema-qualified: `crm.orders`) or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// A table or view, by name.
    Table(String),
    /// A `SELECT` (or `VALUES`, `TABLE …`) statement.
    Query(String),
}

/// A connection to a server.
pub struct Connection {
    client: Client,
    server: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Connection").field("server", &self.server).finish_non_exhaustive()
    }
}

/// The connection string as it can be shown: `postgres://user@host:port/database`,
/// never with the password.
pub fn redacted(connection: &str) -> String {
    match connection.parse::<Config>() {
        Ok(config) => describe(&config),
        Err(_) => "postgres (unreadable connection string)".into(),
    }
}

fn describe(config: &Config) -> String {
    let user = config.get_user().map(|user| format!("{user}@")).unwrap_or_default();
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().map(|port| format!(":{port}")).unwrap_or_default();
    let database = config.get_dbname().map(|name| format!("/{name}")).unwrap_or_default();
    format!("postgres://{user}{host}{port}{database}")
}

/// A server's error in full: its message, detail and hint.
fn server_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_string();
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                message.push_str(&format!("; hint: {hint}"));
            }
            message
        }
        None => error.to_string(),
    }
}

impl Connection {
    /// Connect with a URL (`postgres://user:password@host:5432/db`) or key-value string
    /// (`host=localhost user=me dbname=crm`).
    pub fn open(connection: &str) -> Result<Connection, PostgresError> {
        let mut config: Config =
            connection.parse().map_err(|error: postgres::Error| PostgresError::BadConnectionString(error.to_string()))?;
        if config.get_user().is_none()
            && let Some(user) = std::env::var("PGUSER").ok().or_else(|| std::env::var("USER").ok())
        {
            config.user(&user);
        }
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let server = describe(&config);
        let client =
            config.connect(NoTls).map_err(|error| PostgresError::Connect { server: server.clone(), message: server_message(&error) })?;
        let mut connection = Connection { client, server };
        // Times in UTC with their offset, dates ISO year-month-day: what the reader takes.
        connection.batch("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")?;
        Ok(connection)
    }

    /// The server, as it can be shown.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Run statements (no rows back).
    pub fn batch(&mut self, statements: &str) -> Result<(), PostgresError> {
        self.client
            .batch_execute(statements)
            .map_err(|error| PostgresError::Statement { server: self.server.clone(), message: server_message(&error) })
    }

    /// Stream `relation` as CSV with a header row into `out`; returns the bytes written.
    pub fn copy_out(&mut self, relation: &Relation, out: &mut dyn Write) -> Result<u64, PostgresError> {
        let select = match relation {
            Relation::Table(name) => format!("SELECT * FROM {}", quote_qualified(name)?),
            Relation::Query(query) => {
                let query = query.trim().trim_end_matches(';').trim();
                if query.is_empty() {
                    return Err(PostgresError::Invalid("the query is empty".into()));
                }
                query.to_string()
            }
        };
        let statement = format!("COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)");
        let server = self.server.clone();
        let mut reader = self
            .client
            .copy_out(statement.as_str())
            .map_err(|error| PostgresError::Statement { server: server.clone(), message: server_message(&error) })?;
        std::io::copy(&mut reader, out).map_err(|source| PostgresError::Io { server, source })
    }

    /// Upsert the rows of `batch` into `table` by its `key` column (see the crate docs).
    pub fn upsert(&mut self, table: &str, key: &str, batch: &RecordBatch) -> Result<UpsertReport, PostgresError> {
        let schema = batch.schema();
        let key_index =
            schema.index_of(key).map_err(|_| PostgresError::Invalid(format!("the rows have no column {key:?} to upsert by")))?;
        if batch.column(key_index).null_count() > 0 {
            return Err(PostgresError::Invalid(format!(
                "{} row(s) have no {key}: they cannot be upserted",
                batch.column(key_index).null_count()
            )));
        }
        let target = quote_qualified(table)?;
        let columns: Vec<String> = schema.fields().iter().map(|field| quote_identifier(field.name())).collect();
        let create = create_table(&target, &schema, key);
        let server = self.server.clone();
        let statement_error = |error: postgres::Error| PostgresError::Statement { server: server.clone(), message: server_message(&error) };

        let mut transaction = self.client.transaction().map_err(statement_error)?;
        transaction.batch_execute(&create).map_err(statement_error)?;
        for field in schema.fields() {
            transaction
                .batch_execute(&format!(
                    "ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {} {}",
                    quote_identifier(field.name()),
                    postgres_type(field.data_type())
                ))
                .map_err(statement_error)?;
        }
        let before: i64 = transaction.query_one(&format!("SELECT count(*) FROM {target}"), &[]).map_err(statement_error)?.get(0);
        // The staging table takes the target's column types, so each value is parsed as
        // the target's column wants it (a column a user retyped included).
        transaction
            .batch_execute(&format!("CREATE TEMPORARY TABLE rapport_upsert (LIKE {target}) ON COMMIT DROP"))
            .map_err(statement_error)?;
        let column_list = columns.join(", ");
        let mut writer =
            transaction.copy_in(&format!("COPY rapport_upsert ({column_list}) FROM STDIN WITH (FORMAT csv)")).map_err(statement_error)?;
        rapport_store::output::write_csv_rows(batch, &mut writer).map_err(|source| PostgresError::Io { server: server.clone(), source })?;
        writer.finish().map_err(statement_error)?;
        let duplicates: i64 = transaction
            .query_one(
                &format!(
                    "SELECT count(*) FROM (SELECT {key} FROM rapport_upsert GROUP BY {key} HAVING count(*) > 1) AS repeated",
                    key = quote_identifier(key)
                ),
                &[],
            )
            .map_err(statement_error)?
            .get(0);
        if duplicates > 0 {
            return Err(PostgresError::Invalid(format!(
                "{duplicates} {key} value(s) appear more than once in the rows: nothing was written"
            )));
        }
        let updates: Vec<String> = schema
            .fields()
            .iter()
            .filter(|field| field.name() != key)
            .map(|field| format!("{name} = EXCLUDED.{name}", name = quote_identifier(field.name())))
            .collect();
        let conflict = if updates.is_empty() { "DO NOTHING".to_string() } else { format!("DO UPDATE SET {}", updates.join(", ")) };
        let written = transaction
            .execute(
                &format!(
                    "INSERT INTO {target} ({column_list}) SELECT {column_list} FROM rapport_upsert ON CONFLICT ({}) {conflict}",
                    quote_identifier(key)
                ),
                &[],
            )
            .map_err(statement_error)?;
        let after: i64 = transaction.query_one(&format!("SELECT count(*) FROM {target}"), &[]).map_err(statement_error)?.get(0);
        transaction.commit().map_err(statement_error)?;
        let inserted = (after - before).max(0) as u64;
        Ok(UpsertReport { inserted, updated: written.saturating_sub(inserted), table: table.to_string() })
    }
}

/// For tests: the server named by `RAPPORT_TEST_POSTGRES` (`bash .ci/test` starts one),
/// or `None` to skip when there is none. Where `RAPPORT_REQUIRE_POSTGRES` is set (in CI)
/// a missing server panics instead, so that the tests cannot pass without running.
pub fn test_server() -> Option<String> {
    match std::env::var("RAPPORT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("RAPPORT_REQUIRE_POSTGRES").is_none(),
                "RAPPORT_REQUIRE_POSTGRES is set but RAPPORT_TEST_POSTGRES names no server"
            );
            eprintln!("skipped: no PostgreSQL server (RAPPORT_TEST_POSTGRES); bash .ci/test starts one");
            None
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertReport {
    /// The table written.
    pub table: String,
    /// Rows whose key was new.
    pub inserted: u64,
    /// Rows whose key was there, now updated.
    pub updated: u64,
}

fn create_table(target: &str, schema: &Schema, key: &str) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let not_null = if field.name() == key { " NOT NULL" } else { "" };
            format!("{} {}{not_null}", quote_identifier(field.name()), postgres_type(field.data_type()))
        })
        .collect();
    format!("CREATE TABLE IF NOT EXISTS {target} ({}, PRIMARY KEY ({}))", columns.join(", "), quote_identifier(key))
}

/// The PostgreSQL type a column is created with.
fn postgres_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => "integer",
        // UInt64 counts (purchases, messages) fit a bigint long before they could overflow it.
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "double precision",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(_, None) => "timestamp",
        DataType::Timestamp(_, Some(_)) => "timestamptz",
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => "numeric",
        _ => "text",
    }
}

/// `name` as a quoted SQL identifier: `"name"`, a `"` inside doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name, optionally schema-qualified (`crm.scores`), each part quoted. A part
/// already in double quotes is taken as written (`"My Schema"."Scores"`).
fn quote_qualified(name: &str) -> Result<String, PostgresError> {
    let mut parts = Vec::new();
    let mut rest = name.trim();
    while !rest.is_empty() {
        let (part, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = None;
            let bytes = quoted.as_bytes();
            let mut index = 0;
            while index < bytes.len() {
                if bytes[index] == b'"' {
                    if bytes.get(index + 1) == Some(&b'"') {
                        index += 2;
                        continue;
                    }
                    end = Some(index);
                    break;
                }
                index += 1;
            }
            let end = end.ok_or_else(|| PostgresError::Invalid(format!("table name {name:?}: a quote is not closed")))?;
            (quoted[..end].replace("\"\"", "\""), &quoted[end + 1..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            (rest[..end].to_string(), &rest[end..])
        };
        if part.is_empty() {
            return Err(PostgresError::Invalid(format!("table name {name:?}: an empty part")));
        }
        parts.push(quote_identifier(&part));
        rest = match after.strip_prefix('.') {
            Some(next) if !next.is_empty() => next,
            Some(_) => return Err(PostgresError::Invalid(format!("table name {name:?}: ends with a dot"))),
            None if after.is_empty() => "",
            None => return Err(PostgresError::Invalid(format!("table name {name:?}: unexpected {after:?}"))),
        };
    }
    if parts.is_empty() || parts.len() > 3 {
        return Err(PostgresError::Invalid(format!("table name {name:?}: expected table, schema.table or database.schema.table")));
    }
    Ok(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_quoted_part_by_part() {
        assert_eq!(quote_qualified("orders").expect("plain"), "\"orders\"");
        assert_eq!(quote_qualified("crm.Orders").expect("schema"), "\"crm\".\"Orders\"");
        assert_eq!(quote_qualified("\"My Schema\".\"a.b\"").expect("quoted"), "\"My Schema\".\"a.b\"");
        assert_eq!(quote_qualified("x\"; DROP TABLE y; --").expect("odd"), "\"x\"\"; DROP TABLE y; --\"");
        assert_eq!(quote_qualified("\"say \"\"hi\"\"\"").expect("escaped"), "\"say \"\"hi\"\"\"");
        for bad in ["", "a.", ".a", "\"open", "a.b.c.d", "\"a\"b"] {
            assert!(quote_qualified(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn connection_strings_are_shown_without_the_password() {
        assert_eq!(redacted("postgres://ana:secret@db.example:5433/crm"), "postgres://ana@db.example:5433/crm");
        assert_eq!(redacted("host=/run/postgresql user=ana password=secret dbname=crm"), "postgres://ana@/run/postgresql/crm");
        assert!(!redacted("postgresql://ana:secret@h/crm?sslmode=disable").contains("secret"));
        assert_eq!(redacted("not a url ="), "postgres (unreadable connection string)");
    }

    #[test]
    fn column_types() {
        assert_eq!(postgres_type(&DataType::Utf8), "text");
        assert_eq!(postgres_type(&DataType::Float64), "double precision");
        assert_eq!(postgres_type(&DataType::UInt64), "bigint");
        assert_eq!(postgres_type(&DataType::Boolean), "boolean");
        let create =
            create_table("\"s\"", &Schema::new(vec![arrow::datatypes::Field::new("customer_id", DataType::Utf8, false)]), "customer_id");
        assert_eq!(create, "CREATE TABLE IF NOT EXISTS \"s\" (\"customer_id\" text NOT NULL, PRIMARY KEY (\"customer_id\"))");
    }
}
