//! `rapport segments` and `rapport matrix` from the command line: the RFM rule on a
//! hand-checked workspace, user-defined segments, moves between runs, config errors.

use crate::{csv_rows, ok, user_error};

fn workspace_with(directory: &std::path::Path, timezone: &str, purchases: &str) -> String {
    let workspace = directory.join("ws");
    let workspace = workspace.to_str().expect("path").to_string();
    ok(&["init", &workspace, "--timezone", timezone]);
    let file = directory.join("purchases.csv");
    std::fs::write(&file, purchases).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    workspace
}

/// Five buyers and a refund-only customer, in New York: each score worked by hand from
/// the rule in the issue (PERCENT_RANK with ties at the lowest rank; local days; net
/// spend in cents, so 0.10 + 0.20 ties nothing it should not).
#[test]
fn rfm_scores_follow_the_rule_by_hand() {
    let directory = tempfile::tempdir().expect("tempdir");
    let purchases = "customer_id,order_id,time,amount
a,o1,2025-01-01T10:00:00Z,10.00
a,o2,2025-01-01T15:00:00Z,5.00
b,o3,2025-01-05T03:00:00Z,20.00
b,o4,2025-01-11T03:00:00Z,20.00
c,o5,2025-01-10T12:00:00Z,50.00
c,o5,2025-01-11T12:00:00Z,-10.00
d,o6,2025-01-09T12:00:00Z,-5.00
e,o7,2025-01-20T12:00:00Z,0.10
e,o8,2025-01-20T13:00:00Z,0.20
f,o9,2024-12-01T12:00:00Z,100
f,o10,2024-12-15T12:00:00Z,100
f,o11,2025-01-15T12:00:00Z,100
";
    let workspace = workspace_with(directory.path(), "America/New_York", purchases);
    ok(&["-q", "analyze", "-w", &workspace]);
    let (header, rows) = csv_rows(&ok(&["segments", "-w", &workspace]));
    assert_eq!(header, ["customer_id", "recency_score", "frequency_score", "monetary_score", "rfm_code", "segment", "cluster"]);
    let scores: Vec<(String, String, String)> = rows.iter().map(|row| (row[0].clone(), row[4].clone(), row[5].clone())).collect();
    // Observation end: 2025-01-20 (New York). Recency days a 19, b 10 (its last purchase
    // is 22:00 on the 10th in New York), c 10 (the refund on the 11th is not a purchase),
    // e 0, f 5; purchase days a 1, b 2, c 1, e 1, f 3; cents a 1500, b 4000, c 4000, e 30,
    // f 30000. d only refunded: not scored.
    let expected = [
        ("a", "112", "Lost"),
        ("b", "243", "At Risk"),
        ("c", "213", "About To Sleep"),
        ("e", "511", "New Customers"),
        ("f", "455", "Champions"),
    ];
    let expected: Vec<(String, String, String)> = expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(scores, expected);
    // --all lists the refund-only customer with empty scores.
    let (_, all) = csv_rows(&ok(&["segments", "-w", &workspace, "--all"]));
    let d = all.iter().find(|row| row[0] == "d").expect("d listed with --all");
    assert_eq!(&d[1..6], ["", "", "", "", ""]);
}

/// Most customers of a short export bought once, on one day, for one amount: their tie
/// fills one band and leaves the next ones empty. The grid still shows every band (S5 is
/// the strongest, though empty ones are blank), and the run and `rapport matrix` say why
/// bands are empty, naming the tie; RFM's frequency score says the same.
#[test]
fn empty_bands_are_shown_and_explained() {
    let directory = tempfile::tempdir().expect("tempdir");
    let mut purchases = String::from("customer_id,order_id,time,amount\n");
    for customer in 0..32 {
        purchases.push_str(&format!("once{customer},o{customer},2025-01-10T12:00:00Z,10.00\n"));
    }
    for customer in 0..8 {
        for visit in 0..=customer {
            purchases.push_str(&format!(
                "often{customer},p{customer}-{visit},2025-01-{:02}T12:00:00Z,{}.00\n",
                11 + visit * 2,
                20 + customer
            ));
        }
    }
    let workspace = workspace_with(directory.path(), "UTC", &purchases);
    let output = crate::rapport(&["analyze", "-w", &workspace]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("the Customer Matrix's strength bands 2, 3 and 4 of 1–5 hold no customers of the 40")
            && stderr.contains("(32 customers, 80%)"),
        "{stderr}"
    );
    assert!(stderr.contains("the RFM frequency score") && stderr.contains("1 day (33 customers, 82%)"), "{stderr}");
    let output = crate::rapport(&["matrix", "-w", &workspace]);
    let (grid, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(grid.contains("S5 strongest") && grid.contains("S3"), "{grid}");
    assert!(stderr.contains("the Customer Matrix's strength bands 2, 3 and 4"), "{stderr}");
    let output = crate::rapport(&["segments", "-w", &workspace]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("the RFM frequency scores 2, 3 and 4"), "{stderr}");
}

#[test]
fn one_buyer_scores_three_everywhere() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace_with(directory.path(), "UTC", "customer_id,time,amount\nsolo,2025-03-01,12.50\n");
    ok(&["-q", "analyze", "-w", &workspace]);
    let (_, rows) = csv_rows(&ok(&["segments", "-w", &workspace]));
    assert_eq!(rows, [["solo", "3", "3", "3", "333", "Potential Loyalist", ""]]);
}

fn generated(directory: &std::path::Path, customers: &str) -> String {
    let brand = directory.join("brand");
    ok(&["-q", "generate", "--customers", customers, "--truth-customers", "1", "--output", brand.to_str().expect("path")]);
    let workspace = directory.join("ws");
    let workspace = workspace.to_str().expect("path").to_string();
    ok(&["init", &workspace, "--timezone", "Europe/London", "--currency", "GBP"]);
    for kind in ["customers", "purchases", "interactions", "surveys", "engagement"] {
        let file = brand.join(format!("{kind}.csv"));
        ok(&["-q", "ingest", "-w", &workspace, "-k", kind, file.to_str().expect("path")]);
    }
    workspace
}

/// User-defined segments from rapport.toml become columns and sizes; two runs compare.
#[test]
fn user_segments_and_moves_between_runs() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = generated(directory.path(), "1500");
    let config = std::path::Path::new(&workspace).join("rapport.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n[segments]\nbig_spenders = \"net_spend > 500\"\nchampions_at_risk = \"segment = 'Champions' AND p_alive < 0.5\"\nambassadors = \"ambassador\"\n\n[matrix]\nstrength_bands = 4\ntop_tier = \"strength_band = 4 AND clv > 50\"\n");
    std::fs::write(&config, text).expect("config");
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let earlier = csv_rows(&ok(&["runs", "-w", &workspace, "--format", "csv"])).1[0][0].clone();
    ok(&["-q", "analyze", "-w", &workspace]);

    let (header, rows) = csv_rows(&ok(&["segments", "-w", &workspace]));
    assert_eq!(&header[7..], ["ambassadors", "big_spenders", "champions_at_risk"]);
    let (_, sizes) = csv_rows(&ok(&["segments", "-w", &workspace, "--sizes"]));
    let size = |name: &str| sizes.iter().find(|row| row[1] == name).map_or(0, |row| row[2].parse::<usize>().expect("count"));
    assert_eq!(size("big_spenders"), rows.iter().filter(|row| row[8] == "true").count());
    assert!(size("big_spenders") > 0);
    // Every customer is in exactly one RFM segment.
    let rfm: usize = sizes.iter().filter(|row| row[0] == "rfm").map(|row| row[2].parse::<usize>().expect("count")).sum();
    assert_eq!(rfm, rows.len());

    // Moves between the runs: every customer of the later run once per kind.
    let (header, moves) = csv_rows(&ok(&["segments", "-w", &workspace, "--compare", &earlier]));
    assert_eq!(header, ["kind", "from", "to", "customers", "net_spend"]);
    let moved: usize =
        moves.iter().filter(|row| row[0] == "rfm" && row[2] != "(not in this run)").map(|row| row[3].parse::<usize>().expect("n")).sum();
    assert_eq!(moved, rows.len());
    // Nothing is left blank: a customer of the customers file who had not bought by the
    // earlier run comes from "(none)", one who left a user segment goes to "(outside)".
    assert!(moves.iter().all(|row| !row[1].is_empty() && !row[2].is_empty()), "{moves:?}");
    assert!(moves.iter().any(|row| row[0] == "rfm" && row[1] == "(none)"), "{moves:?}");
    assert!(moves.iter().any(|row| row[0] == "user" && row[2] == "(outside)"), "{moves:?}");
    // Moves go from an earlier run to a later one: the other way round is refused.
    let (_, runs) = csv_rows(&ok(&["runs", "-w", &workspace, "--format", "csv"]));
    let later = runs.iter().find(|row| row[0] != earlier).expect("the later run")[0].clone();
    assert!(runs.iter().any(|row| row[0] == earlier && row[2] == "2025-06-30T23:59:59"), "runs show each one's as_of: {runs:?}");
    let message = crate::user_error(&["segments", "-w", &workspace, "--run", &earlier, "--compare", &later]);
    assert!(message.contains("after this one"), "{message}");
    // Spend sums print as the sum of their parts (cents), not 32741.249999999996.
    assert!(moves.iter().all(|row| row[4].split('.').nth(1).is_none_or(|cents| cents.len() <= 2)), "{moves:?}");

    // A segment added to rapport.toml after the run: the run has no column for it, and
    // `segments` says that the next analysis adds it.
    let mut text = std::fs::read_to_string(&config).expect("config");
    text = text.replace("[segments]\n", "[segments]\nlapsed = \"days_since_last_purchase > 180\"\n");
    std::fs::write(&config, text).expect("config");
    let output = crate::rapport(&["segments", "-w", &workspace, "--sizes"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.contains("no column for lapsed") && stderr.contains("rapport analyze"), "{stderr}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["matrix", "-w", &workspace, "--compare", &earlier, "--format", "json"])).expect("json");
    assert_eq!(json["settings"]["matrix"]["strength_bands"], 4);
    let directions = json["directions"].as_object().expect("directions");
    let later: u64 = ["moved_up", "slipped", "stayed", "new"].iter().filter_map(|way| directions.get(*way)?.as_u64()).sum();
    let customers: u64 = json["cells"].as_array().expect("cells").iter().map(|cell| cell["customers"].as_u64().expect("n")).sum();
    assert_eq!(later, customers);
    let movers = json["movers"].as_array().expect("movers");
    assert_eq!(
        movers.len() as u64,
        directions.get("moved_up").and_then(|n| n.as_u64()).unwrap_or(0) + directions.get("slipped").and_then(|n| n.as_u64()).unwrap_or(0)
    );
    assert!(
        json["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .all(|cell| cell["strength_band"].as_u64().is_some_and(|band| (1..=4).contains(&band)))
    );
    // The watched top tier is the configured one.
    for row in json["top_tier_watch"].as_array().expect("watch") {
        assert_eq!(row["strength_band"], 4);
        assert!(row["clv"].as_f64().is_some_and(|clv| clv > 50.0), "{row}");
    }
    let grid = ok(&["matrix", "-w", &workspace]);
    assert!(grid.contains("S4 strongest") && grid.contains("Top tier (strength_band = 4 AND clv > 50)"), "{grid}");
    let message = user_error(&["matrix", "-w", &workspace, "--view", "movers", "--format", "csv"]);
    assert!(message.contains("--compare"), "{message}");

    // Comparing with a later run, or across grids of different sizes, is refused.
    let latest = csv_rows(&ok(&["runs", "-w", &workspace, "--format", "csv"])).1[1][0].clone();
    let message = user_error(&["matrix", "-w", &workspace, "--run", &earlier, "--compare", &latest]);
    assert!(message.contains("after this one"), "{message}");
    let text = std::fs::read_to_string(&config).expect("config").replace("strength_bands = 4", "strength_bands = 5");
    std::fs::write(&config, text).expect("config");
    ok(&["-q", "analyze", "-w", &workspace]);
    let message = user_error(&["matrix", "-w", &workspace, "--compare", &earlier]);
    assert!(message.contains("4 bands") || message.contains("× 4"), "{message}");
    assert!(message.contains("same grid"), "{message}");

    // A hook that is down: the first actions fail to connect, the rest are not attempted.
    // Port 1, outside the ephemeral range: a port freed here could be handed to another
    // test's server binding port 0 in parallel, which would answer (with HTTP errors).
    let url = "http://127.0.0.1:1/hook".to_string();
    let started = std::time::Instant::now();
    let output = crate::rapport(&["actions", "-w", &workspace, "--webhook", &url, "--webhook-retries", "1", "--without-control"]);
    assert_eq!(output.status.code(), Some(1));
    let (_, failed) = csv_rows(&String::from_utf8_lossy(&output.stdout));
    let (_, listed) = csv_rows(&ok(&["actions", "-w", &workspace, "--without-control"]));
    assert_eq!(failed.len(), listed.len(), "every action is reported");
    let skipped = failed.iter().filter(|row| row[3] == "0").count();
    assert!(skipped + 20 >= failed.len(), "{skipped} of {} not attempted", failed.len());
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

/// Mistakes in rapport.toml's segments and matrix are caught when the config loads, with
/// the line and a hint.
#[test]
fn config_errors_name_the_line() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace_with(directory.path(), "UTC", "customer_id,time,amount\na,2025-03-01,1\n");
    let config = std::path::Path::new(&workspace).join("rapport.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    let line_of = |text: &str, needle: &str| text.lines().position(|line| line.contains(needle)).expect("line") + 1;
    let cases = [
        ("[segments]\nloyal = \"net_spnd > 100\"\n", "net_spnd", "did you mean net_spend?"),
        ("[segments]\nodd = \"net_spend >\"\n", "net_spend >", "[segments] odd"),
        ("[segments]\nbad = \"net_spend + 1\"\n", "net_spend + 1", "true or false"),
        ("[segments]\nnet_spend = \"net_spend > 1\"\n", "net_spend = ", "already has a column"),
        ("[matrix]\nstrength_bands = 1\n", "strength_bands", "2 to 20 bands"),
        ("[matrix]\ntop_tier = \"strenght_band = 5\"\n", "strenght_band", "did you mean strength_band?"),
    ];
    for (addition, needle, hint) in cases {
        let text = format!("{original}\n{addition}");
        std::fs::write(&config, &text).expect("config");
        let message = user_error(&["analyze", "-w", &workspace]);
        let line = line_of(&text, needle);
        assert!(message.contains(&format!("line {line}:")) && message.contains(hint), "{addition}: {message}");
        assert!(message.contains("rapport.toml"), "{message}");
    }
}

/// A run made before segments existed (or by another command) says what to do.
#[test]
fn segments_of_a_run_without_them_say_to_analyze() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace_with(directory.path(), "UTC", "customer_id,time,amount\na,2025-03-01,1\n");
    let message = user_error(&["segments", "-w", &workspace]);
    assert!(message.contains("no results runs") || message.contains("no runs"), "{message}");
}
