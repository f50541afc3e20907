//! Output: every format of a customer table, and the errors of a bad destination.

use rapport_engine::output::{OutputFormat, write};
use rapport_engine::{CustomerTable, Window};

fn table() -> CustomerTable {
    let mut table = CustomerTable::from_ids(["a", "b,c"], Window::default());
    table.push_f64("frequency", vec![2.0, 0.0]).expect("push");
    table.push_f64("clv", vec![12.5, f64::NAN]).expect("push");
    table
}

#[test]
fn text_formats() {
    let batch = table().to_record_batch();
    let render = |format| {
        let mut out = Vec::new();
        write(&batch, format, None, &mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    };
    assert_eq!(render(OutputFormat::Csv), "customer_id,frequency,clv\na,2,12.5\n\"b,c\",0,\n");
    assert_eq!(
        render(OutputFormat::Jsonl),
        "{\"customer_id\":\"a\",\"frequency\":2,\"clv\":12.5}\n{\"customer_id\":\"b,c\",\"frequency\":0,\"clv\":null}\n"
    );
    assert_eq!(render(OutputFormat::Table), "customer_id  frequency      clv\na                    2  12.5000\nb,c                  0\n");
}

#[test]
fn parquet_needs_a_file_and_round_trips() {
    let batch = table().to_record_batch();
    let error = write(&batch, OutputFormat::Parquet, None, &mut Vec::new()).expect_err("no file");
    assert_eq!(error.code(), "output_file_needed");
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("t.parquet");
    write(&batch, OutputFormat::Parquet, Some(&path), &mut Vec::new()).expect("parquet");
    assert!(std::fs::metadata(&path).expect("file").len() > 0);
    let error = write(&batch, OutputFormat::Csv, Some(&directory.path().join("missing/t.csv")), &mut Vec::new()).expect_err("no directory");
    assert_eq!(error.code(), "write_failed");
}
