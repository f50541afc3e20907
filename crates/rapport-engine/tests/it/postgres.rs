//! PostgreSQL round trips against a real server: `.ci/test` starts one and names it in
//! `RAPPORT_TEST_POSTGRES` (and sets `RAPPORT_REQUIRE_POSTGRES`, so that there a missing
//! server fails the tests instead of skipping them).

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use rapport_engine::EventKind;
use rapport_engine::input::FileInput;
use rapport_engine::postgres::{ExportRequest, PostgresSource, Relation, export_postgres, ingest_postgres};
use rapport_engine::workspace::{IngestRequest, ingest};

use rapport_postgres::test_server as server;

/// Run statements with psql-free means: the crate's own connection.
fn execute(url: &str, statements: &str) {
    let mut connection = rapport_postgres_connection(url);
    connection.batch(statements).unwrap_or_else(|error| panic!("{statements}: {error}"));
}

fn rapport_postgres_connection(url: &str) -> rapport_postgres::Connection {
    rapport_postgres::Connection::open(url).expect("connect")
}

/// A schema of its own for each test, so that tests running at once do not meet.
fn schema(url: &str, test: &str) -> String {
    let name = format!("rapport_{test}_{}", std::process::id());
    execute(url, &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"));
    name
}

fn request(workspace: &Path, kind: EventKind, file: &Path) -> IngestRequest {
    IngestRequest {
        workspace: workspace.to_path_buf(),
        kind,
        input: FileInput::new(file),
        mappings: Vec::new(),
        sets: Vec::new(),
        filter: None,
        max_rejects: 10,
        replace: None,
        profile: None,
    }
}

/// The stored events of the workspace's only batch, without the line numbers, sorted by
/// event id.
fn stored(workspace: &Path, kind: EventKind) -> RecordBatch {
    let directory = workspace.join("events").join(kind.name());
    let files: Vec<_> = std::fs::read_dir(&directory).expect("events").map(|entry| entry.expect("entry").path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let batch = rapport_store::input::read_parquet_file(&files[0]).expect("read");
    let keep: Vec<usize> =
        batch.schema().fields().iter().enumerate().filter(|(_, field)| field.name() != "source_line").map(|(index, _)| index).collect();
    let batch = batch.project(&keep).expect("project");
    let ids = batch.column(0).as_string::<i32>();
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_by_key(|&row| ids.value(row as usize).to_string());
    let order = arrow::array::UInt32Array::from(order);
    let columns = batch.columns().iter().map(|column| arrow::compute::take(column, &order, None).expect("take")).collect();
    RecordBatch::try_new(batch.schema(), columns).expect("batch")
}

/// Events read from PostgreSQL tables equal the same events ingested from CSV: times with
/// offsets and without, numerics, nulls, texts with quotes, commas and line breaks, flags;
/// a bad row is quarantined under the server and table with its row number; reading the
/// unchanged table again ingests nothing new; a query reads too.
#[test]
fn events_from_postgres_equal_the_same_events_from_csv() {
    let Some(url) = server() else { return };
    let schema = schema(&url, "ingest");
    execute(
        &url,
        &format!(
            "CREATE TABLE {schema}.orders (event_id text, customer_id text, time timestamptz, amount numeric(12,2), order_id text, items int);
             INSERT INTO {schema}.orders VALUES
               ('p1', 'c1', '2024-01-05 10:00:00+01', 12.50, 'o1', 2),
               ('p2', 'c1', '2024-02-01 23:30:00-05', 7.25, NULL, NULL),
               ('p3', 'c 2, \"x\"', '2024-03-01 00:00:00+00', -7.25, 'o1', 1);
             CREATE TABLE {schema}.messages (event_id text, customer_id text, time timestamp, channel text, direction text, text text, resolved boolean);
             INSERT INTO {schema}.messages VALUES
               ('m1', 'c1', '2024-01-06 09:15:00', 'email', 'inbound', E'Hello,\\nmy order \"o1\" is late', false),
               ('m2', 'c1', '2024-01-06 11:00:00', 'email', 'outbound', 'Sorry — on its way', true),
               ('m3', 'c3', '2024-01-07 08:00:00', 'pigeon', 'inbound', 'bad channel', NULL),
               ('m4', 'c3', '2024-01-07 09:00:00', 'chat', NULL, '', NULL);"
        ),
    );
    let directory = tempfile::tempdir().expect("temp");
    let from_csv = directory.path().join("csv");
    let from_postgres = directory.path().join("pg");
    for workspace in [&from_csv, &from_postgres] {
        rapport_engine::workspace::init(workspace, "Europe/Paris", "EUR").expect("init");
    }
    let orders = crate::write(
        directory.path(),
        "orders.csv",
        "event_id,customer_id,time,amount,order_id,items\np1,c1,2024-01-05 09:00:00Z,12.50,o1,2\np2,c1,2024-02-02T04:30:00Z,7.25,,\np3,\"c 2, \"\"x\"\"\",2024-03-01T00:00:00+00:00,-7.25,o1,1\n",
    );
    let messages = crate::write(
        directory.path(),
        "messages.csv",
        "event_id,customer_id,time,channel,direction,text,resolved\nm1,c1,2024-01-06 09:15:00,email,inbound,\"Hello,\nmy order \"\"o1\"\" is late\",f\nm2,c1,2024-01-06 11:00:00,email,outbound,Sorry — on its way,t\nm3,c3,2024-01-07 08:00:00,pigeon,inbound,bad channel,\nm4,c3,2024-01-07 09:00:00,chat,,,\n",
    );
    let csv_orders = ingest(&request(&from_csv, EventKind::Purchases, &orders)).expect("csv purchases");
    let csv_messages = ingest(&request(&from_csv, EventKind::Interactions, &messages)).expect("csv interactions");

    let table = |name: &str| PostgresSource { connection: url.clone(), relation: Relation::Table(format!("{schema}.{name}")) };
    let pg_orders = ingest_postgres(&request(&from_postgres, EventKind::Purchases, Path::new("")), &table("orders")).expect("pg purchases");
    let pg_messages =
        ingest_postgres(&request(&from_postgres, EventKind::Interactions, Path::new("")), &table("messages")).expect("pg interactions");
    assert_eq!((pg_orders.accepted, pg_orders.rejected), (3, 0));
    assert_eq!((csv_orders.accepted, csv_orders.rejected), (3, 0));
    assert_eq!((pg_messages.accepted, pg_messages.rejected), (3, 1));
    assert_eq!((csv_messages.accepted, csv_messages.rejected), (3, 1));
    assert_eq!(stored(&from_postgres, EventKind::Purchases), stored(&from_csv, EventKind::Purchases));
    assert_eq!(stored(&from_postgres, EventKind::Interactions), stored(&from_csv, EventKind::Interactions));

    // The reject names the server and table (never a temporary file), and its line in
    // the copy (m1's text takes two).
    let reject = &pg_messages.first_rejects[0];
    assert!(reject.file.starts_with("postgres://postgres@") && reject.file.ends_with(&format!("table {schema}.messages")), "{reject}");
    assert_eq!((reject.line, reject.column.as_str(), reject.value.as_str()), (5, "channel", "pigeon"));
    let manifest = std::fs::read_to_string(from_postgres.join("manifest.json")).expect("manifest");
    assert!(manifest.contains(&format!("table {schema}.orders")) && !manifest.contains("rapport-postgres-"), "{manifest}");

    // The same table again: nothing new. A query with a new row: only that row.
    let again = ingest_postgres(&request(&from_postgres, EventKind::Purchases, Path::new("")), &table("orders")).expect("again");
    assert_eq!((again.accepted, again.already_ingested.is_some()), (0, true));
    execute(&url, &format!("INSERT INTO {schema}.orders VALUES ('p4', 'c3', '2024-04-01 12:00:00+00', 3, NULL, NULL)"));
    let query = PostgresSource {
        connection: url.clone(),
        relation: Relation::Query(format!("SELECT * FROM {schema}.orders WHERE time >= '2024-01-01' ORDER BY event_id;")),
    };
    let newer = ingest_postgres(&request(&from_postgres, EventKind::Purchases, Path::new("")), &query).expect("query");
    assert_eq!((newer.accepted, newer.duplicates), (1, 3));

    // What goes wrong is said: a missing table, a wrong server.
    let error = ingest_postgres(&request(&from_postgres, EventKind::Purchases, Path::new("")), &table("nope")).expect_err("missing");
    assert_eq!(error.code(), "postgres_statement");
    assert!(error.to_string().contains("nope") && error.to_string().contains("does not exist"), "{error}");
    let wrong = PostgresSource { connection: "postgres://nobody:secret@127.0.0.1:1/x".into(), relation: Relation::Table("t".into()) };
    let error = ingest_postgres(&request(&from_postgres, EventKind::Purchases, Path::new("")), &wrong).expect_err("no server");
    assert_eq!(error.code(), "postgres_connect");
    assert!(error.to_string().contains("127.0.0.1:1") && !error.to_string().contains("secret"), "{error}");
    execute(&url, &format!("DROP SCHEMA {schema} CASCADE"));
}

/// A run's customer table goes to PostgreSQL and a second export updates the same rows
/// instead of adding them; a value changed in the table is put back; a column the CRM
/// added is left alone; a chosen subset of columns is written.
#[test]
fn scores_are_upserted_not_duplicated() {
    let Some(url) = server() else { return };
    let schema = schema(&url, "export");
    let directory = tempfile::tempdir().expect("temp");
    let demo =
        rapport_engine::demo::BrandDemoRequest { directory: directory.path().join("demo"), customers: 400, seed: 5, truth_customers: 1 };
    let report = rapport_engine::demo::run_brand_demo(&demo, &|_| {}).expect("demo");
    let customers = report.analysis.run.customers;
    let export = ExportRequest {
        workspace: demo.directory.clone(),
        run: None,
        connection: url.clone(),
        table: format!("{schema}.scores"),
        columns: None,
    };
    let first = export_postgres(&export).expect("first export");
    assert_eq!((first.inserted, first.updated), (customers, 0));

    let run_dir = demo.directory.join("results").join(&report.analysis.run.id);
    let table = rapport_store::input::read_parquet_file(&run_dir.join("customers.parquet")).expect("customers");
    let ids = table.column_by_name("customer_id").expect("id").as_string::<i64>();
    let first_id = ids.value(0).to_string();
    let p_alive = table.column_by_name("p_alive").map(|column| column.as_primitive::<arrow::datatypes::Float64Type>().clone());

    let mut connection = rapport_postgres::Connection::open(&url).expect("connect");
    connection
        .batch(&format!(
            "ALTER TABLE {schema}.scores ADD COLUMN crm_owner text DEFAULT 'team a'; UPDATE {schema}.scores SET p_alive = -1 WHERE customer_id = '{first_id}'"
        ))
        .expect("edit");
    let second = export_postgres(&export).expect("second export");
    assert_eq!((second.inserted, second.updated), (0, customers));

    let count = |connection: &mut rapport_postgres::Connection, sql: &str| -> String {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let mut out = std::fs::File::create(file.path()).expect("create");
        connection.copy_out(&Relation::Query(sql.into()), &mut out).expect("query");
        std::fs::read_to_string(file.path()).expect("read").lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(
        count(&mut connection, &format!("SELECT count(*), count(DISTINCT customer_id) FROM {schema}.scores")),
        format!("{customers},{customers}")
    );
    assert_eq!(count(&mut connection, &format!("SELECT count(*) FROM {schema}.scores WHERE crm_owner = 'team a'")), customers.to_string());
    if let Some(p_alive) = p_alive {
        let written: f64 = count(&mut connection, &format!("SELECT p_alive FROM {schema}.scores WHERE customer_id = '{first_id}'"))
            .parse()
            .expect("float");
        assert_eq!(written, p_alive.value(0), "p_alive restored exactly (double precision round trip)");
        assert!(p_alive.is_valid(0));
    }

    // A subset of columns into a new table; an unknown column is refused before connecting.
    let subset = ExportRequest { table: format!("{schema}.crm"), columns: Some(vec!["p_alive".into()]), ..export.clone() };
    assert_eq!(export_postgres(&subset).expect("subset").inserted, customers);
    assert_eq!(
        count(
            &mut connection,
            &format!(
                "SELECT string_agg(column_name, ' ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'crm'"
            )
        ),
        "customer_id p_alive"
    );
    let error = export_postgres(&ExportRequest { columns: Some(vec!["nope".into()]), ..subset }).expect_err("unknown column");
    assert!(error.to_string().contains("nope"), "{error}");
    connection.batch(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop");
}
