//! Snapshot tests (insta) of what people read: help, a fit table, the demo's headline.

use crate::{ok, repo};

#[test]
fn help_lists_every_subcommand() {
    insta::assert_snapshot!("help", ok(&["--help"]));
}

#[test]
fn clv_fit_table_for_cdnow() {
    let summary = repo().join("data/cdnow/cdnow_customers_summary.csv");
    let table = ok(&["clv", "fit", "--model", "bg-nbd", "--summary", summary.to_str().expect("path"), "--format", "table", "-q"]);
    insta::assert_snapshot!("clv_fit_bg_nbd_table", table);
}

#[test]
fn demo_headline() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("demo");
    let out = ok(&["demo", "--workspace", workspace.to_str().expect("path"), "-q"]);
    // The first block (figures and models) without the workspace path.
    let headline: Vec<&str> = out.lines().skip(1).take_while(|line| !line.starts_with("Customer summary")).collect();
    insta::assert_snapshot!("demo_headline", headline.join("\n"));
}
