//! `rapport sql` from the command line: formats, nulls, the table list, a bad query.

#[cfg(feature = "sql")]
use crate::csv_rows;
use crate::{ok, user_error};

#[test]
#[cfg(feature = "sql")]
fn sql_over_a_workspace_in_every_format() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("p.csv");
    // A blank order id is null in the table; a quoted comma survives.
    std::fs::write(
        &file,
        "event_id,customer_id,order_id,time,amount\n1,\"a, b\",o1,2020-01-01,3\n2,a,,2020-01-02,4.5\n3,c,o3,2020-01-03,-1\n",
    )
    .expect("write");
    ok(&["ingest", "-w", workspace, "-k", "purchases", file.to_str().expect("path")]);

    let query = "SELECT customer_id, order_id, amount FROM purchases ORDER BY event_id";
    let (header, rows) = csv_rows(&ok(&["sql", "-w", workspace, query, "--format", "csv"]));
    assert_eq!(header, ["customer_id", "order_id", "amount"]);
    assert_eq!(rows, [["a, b", "o1", "3"], ["a", "", "4.5"], ["c", "o3", "-1"]]);
    let json: serde_json::Value = serde_json::from_str(&ok(&["sql", "-w", workspace, query, "--format", "json"])).expect("json");
    assert_eq!(json[1], serde_json::json!({"customer_id": "a", "order_id": null, "amount": 4.5}));
    let table = ok(&["sql", "-w", workspace, "SELECT COUNT(*) AS n, SUM(amount) AS net FROM purchases"]);
    assert!(table.lines().nth(1).is_some_and(|line| line.split_whitespace().collect::<Vec<_>>() == ["3", "6.5000"]), "{table}");
    let parquet = directory.path().join("out.parquet");
    ok(&["sql", "-w", workspace, query, "--format", "parquet", "--output", parquet.to_str().expect("path")]);
    assert!(std::fs::metadata(&parquet).is_ok_and(|metadata| metadata.len() > 0));
    // With --output and no --format, the file's extension decides; anything else is CSV
    // with every row (never the terminal's shortened table).
    let json = directory.path().join("out.json");
    ok(&["sql", "-w", workspace, query, "--output", json.to_str().expect("path")]);
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("json file");
    assert_eq!(written.as_array().map(Vec::len), Some(3));
    let text = directory.path().join("out.txt");
    ok(&["sql", "-w", workspace, query, "--output", text.to_str().expect("path")]);
    assert_eq!(csv_rows(&std::fs::read_to_string(&text).expect("read")).1.len(), 3);

    let (_, tables) = csv_rows(&ok(&["sql", "-w", workspace, "--tables", "--format", "csv"]));
    assert_eq!(tables, [["purchases", "events", "1"]]);
    // A kind with nothing ingested is said to be empty, not mistaken for a typo.
    let message = user_error(&["sql", "-w", workspace, "SELECT COUNT(*) FROM interactions"]);
    assert!(message.contains("holds no interactions yet") && message.contains("--kind interactions"), "{message}");

    let message = user_error(&["sql", "-w", workspace, "SELECT amount FROM purchase"]);
    assert!(message.contains("purchase"), "{message}");
    let message = user_error(&["sql", "-w", workspace, query, "--format", "parquet"]);
    assert!(message.contains("output file"), "{message}");

    // Only queries: a COPY onto a published event file, DDL and SET are refused before
    // they run, and the workspace's files are untouched.
    let events = std::path::Path::new(workspace).join("events").join("purchases");
    let snapshot = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&events)
            .expect("events")
            .filter_map(Result::ok)
            .map(|entry| (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).expect("read")))
            .collect();
        files.sort();
        files
    };
    let before = snapshot();
    let (target, _) = before.first().expect("an event file");
    let target = events.join(target);
    for statement in [
        format!("COPY (SELECT * FROM purchases WHERE amount > 0) TO '{}' STORED AS PARQUET", target.display()),
        "CREATE TABLE copy AS SELECT * FROM purchases".to_string(),
        "DROP TABLE purchases".to_string(),
        "SET datafusion.execution.batch_size = 10".to_string(),
    ] {
        let message = user_error(&["sql", "-w", workspace, &statement]);
        assert!(message.contains("only queries run here") && message.contains("--output"), "{statement}: {message}");
        // Named in the statement's own words.
        let named = if statement.starts_with("CREATE") || statement.starts_with("DROP") {
            statement.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        } else {
            statement.split_whitespace().next().unwrap_or_default().to_string()
        };
        assert!(message.contains(&format!("not {named}:")), "{statement}: {message}");
    }
    assert!(snapshot() == before, "the workspace's event files changed");
    let (_, rows) = csv_rows(&ok(&["sql", "-w", workspace, "SELECT COUNT(*) FROM purchases", "--format", "csv"]));
    assert_eq!(rows, [["3"]]);
}

/// Without the `sql` feature the command is still there and says how to get it.
#[test]
#[cfg(not(feature = "sql"))]
fn sql_without_the_feature_says_how_to_build_it() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let message = user_error(&["sql", "-w", workspace, "SELECT 1"]);
    assert!(message.contains("built without `sql`") && message.contains("cargo build --release --features sql"), "{message}");
    let message = user_error(&["sql", "-w", workspace, "--tables"]);
    assert!(message.contains("--features sql"), "{message}");
}

/// The RFM scores `analyze` writes equal an independent evaluation of the rule in SQL
/// over the raw purchases: DataFusion's own `PERCENT_RANK` (ties at the lowest rank),
/// days as UTC dates (a UTC workspace), net spend in cents. Reference: the rule in the
/// segments issue, evaluated by DataFusion 55.
#[test]
#[cfg(feature = "sql")]
fn rfm_scores_equal_datafusions_percent_rank() {
    let directory = tempfile::tempdir().expect("tempdir");
    let brand = directory.path().join("brand");
    ok(&["-q", "generate", "--customers", "3000", "--truth-customers", "1", "--output", brand.to_str().expect("path")]);
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace, "--timezone", "UTC"]);
    ok(&["-q", "ingest", "-w", workspace, "-k", "purchases", brand.join("purchases.csv").to_str().expect("path")]);
    ok(&["-q", "analyze", "-w", workspace]);
    let (_, ours) = csv_rows(&ok(&["segments", "-w", workspace]));
    let query = "
        WITH rows AS (
            SELECT customer_id, CAST(FLOOR(CAST(to_unixtime(time) AS DOUBLE) / 86400) AS BIGINT) AS day, amount
            FROM purchases WHERE customer_id IS NOT NULL
        ), per AS (
            SELECT customer_id,
                   MAX(CASE WHEN amount >= 0 THEN day END) AS last_day,
                   COUNT(DISTINCT CASE WHEN amount >= 0 THEN day END) AS f,
                   SUM(CAST(ROUND(amount * 100) AS BIGINT)) AS m
            FROM rows GROUP BY customer_id
        ), scored AS (
            SELECT customer_id, (SELECT MAX(day) FROM rows) - last_day AS r, f, m FROM per WHERE last_day IS NOT NULL
        )
        SELECT customer_id,
               LEAST(5, 1 + CAST(FLOOR(5 * PERCENT_RANK() OVER (ORDER BY r DESC)) AS BIGINT)) AS recency_score,
               LEAST(5, 1 + CAST(FLOOR(5 * PERCENT_RANK() OVER (ORDER BY f)) AS BIGINT)) AS frequency_score,
               LEAST(5, 1 + CAST(FLOOR(5 * PERCENT_RANK() OVER (ORDER BY m)) AS BIGINT)) AS monetary_score
        FROM scored";
    let (_, reference) = csv_rows(&ok(&["sql", "-w", workspace, query, "--format", "csv"]));
    let reference: std::collections::HashMap<String, Vec<String>> =
        reference.into_iter().map(|row| (row[0].clone(), row[1..4].to_vec())).collect();
    assert_eq!(ours.len(), reference.len());
    let mut differ = Vec::new();
    for row in &ours {
        if reference.get(&row[0]) != Some(&row[1..4].to_vec()) {
            differ.push(format!("{}: ours {:?}, SQL {:?}", row[0], &row[1..4], reference.get(&row[0])));
        }
    }
    assert!(differ.is_empty(), "{} of {} differ: {:?}", differ.len(), ours.len(), &differ[..differ.len().min(10)]);
}
