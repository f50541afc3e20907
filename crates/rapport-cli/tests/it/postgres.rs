//! `rapport ingest --postgres` and `rapport export` against a real server (started by
//! `.ci/test`, named in `RAPPORT_TEST_POSTGRES`; where `RAPPORT_REQUIRE_POSTGRES` is set a
//! missing server fails instead of skipping).

use crate::{csv_rows, ok, rapport, user_error};

use rapport_postgres::test_server as server;

#[test]
fn ingest_from_a_table_and_export_scores_back() {
    let Some(url) = server() else { return };
    let schema = format!("rapport_cli_{}", std::process::id());
    let mut connection = rapport_postgres::Connection::open(&url).expect("connect");
    connection
        .batch(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.\"Orders\" (id int, client text, placed_at timestamptz, total numeric);
             INSERT INTO {schema}.\"Orders\" VALUES (1, 'a', '2024-01-01 10:00+00', 10), (2, 'a', '2024-02-01 10:00+00', 5), (3, 'b', '2024-01-15 10:00+00', 8);"
        ))
        .expect("setup");
    let directory = tempfile::tempdir().expect("temp");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let table = format!("{schema}.\"Orders\"");
    let ingest = [
        "ingest",
        "-w",
        workspace,
        "-k",
        "purchases",
        "--postgres",
        &url,
        "--table",
        &table,
        "--map",
        "event_id=id",
        "--map",
        "customer_id=client",
        "--map",
        "time=placed_at",
        "--map",
        "amount=total",
        "--format",
        "csv",
    ];
    let (_, rows) = csv_rows(&ok(&ingest));
    assert_eq!(rows[0][..3], ["purchases", "3", "0"]);
    let again = rapport(&ingest);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("ingested before with the same options"), "{again:?}");

    // A results run (the CDNOW demo's), then its customer table into PostgreSQL twice:
    // inserted, then updated.
    let demo = directory.path().join("demo");
    let workspace = demo.to_str().expect("path");
    ok(&["demo", "--cdnow", "--workspace", workspace, "-q"]);
    let export = ["export", "-w", workspace, "--postgres", &url, "--table", &format!("{schema}.scores"), "--format", "csv"];
    let (header, rows) = csv_rows(&ok(&export));
    assert_eq!(
        (header.as_slice(), rows[0][1..].to_vec()),
        (["table", "inserted", "updated"].map(String::from).as_slice(), vec!["2357".to_string(), "0".into()])
    );
    let (_, rows) = csv_rows(&ok(&export));
    assert_eq!(rows[0][1..], ["0", "2357"]);

    // What goes wrong is said, without the password.
    let message = user_error(&["export", "-w", workspace, "--postgres", "postgres://me:hunter2@127.0.0.1:1/crm", "--table", "scores"]);
    assert!(message.contains("could not connect to postgres://me@127.0.0.1:1/crm") && !message.contains("hunter2"), "{message}");
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", "--postgres", &url, "--table", "no_such_table"]);
    assert!(message.contains("no_such_table") && message.contains("does not exist"), "{message}");
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", "--table", "orders"]);
    assert!(message.contains("--postgres <CONNECTION>"), "--table without --postgres: {message}");
    connection.batch(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop");
}
