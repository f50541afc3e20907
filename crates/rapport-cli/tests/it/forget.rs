//! `rapport forget`: a customer removed from the whole workspace, end to end.

use std::path::Path;

use crate::{ok, user_error};

/// Every text cell of every Parquet file, and the text of every other file, under `root`.
pub(crate) fn contents(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.display().to_string();
            if path.extension().is_some_and(|extension| extension == "parquet") {
                let file = std::fs::File::open(&path).expect("open");
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
                for batch in reader {
                    let batch = batch.expect("batch");
                    for column in batch.columns() {
                        if let Ok(text) = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8) {
                            let text = arrow::array::AsArray::as_string::<i32>(&text);
                            found.extend(text.iter().flatten().map(|value| (name.clone(), value.to_string())));
                        }
                    }
                }
            } else {
                found.push((name, String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned()));
            }
        }
    }
    found
}

/// Whether `text` holds `secret` as a token: not continued by a letter or digit after it,
/// nor by a digit before it (`C00000008` is not in `C000000080`; it is in `RC00000008`,
/// an event id spelling it).
pub(crate) fn holds(text: &str, secret: &str) -> bool {
    text.match_indices(secret).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// A referred customer with purchases, conversations and a quarantined row is forgotten:
/// afterwards, and after a new analysis, no file of the workspace holds their id, email
/// or phone; the referral naming them is kept without them; the audit log records
/// the request without the id; a second request finds nobody.
#[test]
fn a_forgotten_customer_leaves_no_trace_in_the_workspace() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let ws = workspace.to_str().expect("path");
    ok(&["-q", "demo", "--customers", "800", "--seed", "9", "--workspace", ws]);
    // The generated exports live beside the workspace's own data; move them out.
    let brand = directory.path().join("brand");
    std::fs::rename(workspace.join("brand"), &brand).expect("move brand");
    let engagement = std::fs::read_to_string(brand.join("engagement.csv")).expect("engagement");
    let customer = engagement
        .lines()
        .skip(1)
        .filter_map(|line| line.rsplit(',').next().filter(|id| !id.is_empty()))
        .find(|id| std::fs::read_to_string(brand.join("interactions.csv")).expect("interactions").contains(&format!(",{id},")))
        .expect("a referred customer with conversations")
        .to_string();
    let profile = std::fs::read_to_string(brand.join("customers.csv")).expect("customers");
    let profile = profile.lines().find(|line| line.starts_with(&format!("{customer},"))).expect("profile").to_string();
    let fields: Vec<&str> = profile.split(',').collect();
    let (email, phone) = (fields[3].to_string(), fields[4].to_string());
    // A rejected row of theirs in quarantine.
    let bad = directory.path().join("bad.csv");
    std::fs::write(&bad, format!("customer_id,time,amount\n{customer},2025-06-01,twelve\n")).expect("write");
    ok(&["-q", "ingest", "-w", ws, "-k", "purchases", bad.to_str().expect("path"), "--max-rejects", "1"]);
    ok(&["-q", "analyze", "-w", ws]);
    assert!(contents(&workspace).iter().any(|(_, text)| holds(text, &customer)), "present before");
    assert!(contents(&workspace).iter().any(|(_, text)| holds(text, &email)), "their email before");
    let before = crate::csv_rows(&ok(&["runs", "-w", ws, "--format", "csv"])).1;

    let output = crate::rapport(&["forget", "-w", ws, &customer]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("1 reference(s) in other customers' events cleared")
            || said.contains("reference(s) in other customers' events cleared"),
        "{said}"
    );
    assert!(said.contains("1 quarantined row(s)"), "{said}");
    ok(&["-q", "analyze", "-w", ws]);

    for (file, text) in contents(&workspace) {
        // (Names are not unique: another customer of the brand may share theirs.)
        for secret in [&customer, &email, &phone] {
            assert!(!holds(&text, secret), "{file} still holds {secret:?}");
        }
    }
    let audit = std::fs::read_to_string(workspace.join("audit.jsonl")).expect("audit log");
    assert!(audit.contains("\"action\":\"forget\"") && audit.lines().count() == 1, "{audit}");
    // The runs: the earlier analysis lost one customer, the new one never had them.
    let after = crate::csv_rows(&ok(&["runs", "-w", ws, "--format", "csv"])).1;
    let customers = |rows: &[Vec<String>], id: &str| rows.iter().find(|row| row[0] == id).expect("run")[3].clone();
    let first = &before.last().expect("a run")[0];
    let count: u64 = customers(&before, first).parse().expect("count");
    assert_eq!(customers(&after, first), (count - 1).to_string());
    assert_eq!(customers(&after, &after.last().expect("run")[0]), (count - 1).to_string());

    // A later export that still lists them does not bring them back.
    let export = directory.path().join("later.csv");
    std::fs::write(&export, format!("customer_id,time,amount\n{customer},2025-12-01,30.00\nsomeone-new,2025-12-01,10.00\n"))
        .expect("write");
    let output = crate::rapport(&["ingest", "-w", ws, "-k", "purchases", export.to_str().expect("path"), "--format", "csv"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("purchases,1,0,0,0,"),
        "only the new customer: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 row(s) of customers forgotten in this workspace skipped"));
    for (file, text) in contents(&workspace) {
        assert!(!holds(&text, &customer), "{file} holds {customer:?} after a later ingest");
    }

    let error = user_error(&["forget", "-w", ws, &customer]);
    assert!(error.contains("is not in this workspace") && error.contains("nothing was forgotten"), "{error}");
    assert_eq!(std::fs::read_to_string(workspace.join("audit.jsonl")).expect("audit").lines().count(), 1);
}
