//! Sentiment of every text of a file, streamed in order.
//!
//! Texts are read through the store's readers a block at a time, scored on all cores,
//! and written in input order, so a file of any size streams through in bounded memory.

use std::io::{BufRead, Read, Write};

use rapport_store::input::{InputFormat, InputSpec, OrderedOptions, OrderedReport, Record, Rejected, WantedColumn, scan_in_order};
use rapport_text::Scores;
pub use rapport_text::SentimentModel;
use rayon::prelude::*;

use crate::EngineError;
use crate::input::FileInput;

/// Which texts to score and how to read them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextRequest {
    /// The file (with a stream given to [`score_stream`], the path only names the data
    /// and its extension decides the format). Read through the store's readers: CSV /
    /// TSV, JSON Lines, Parquet, or one text per line.
    pub input: FileInput,
    /// Column (or JSON field) holding the text; `None`: every line is one text.
    pub text_column: Option<String>,
    /// Column copied to the output to identify each text.
    pub id_column: Option<String>,
    /// Rows that cannot be read (malformed CSV or JSON, too few fields) allowed before
    /// the run stops; they are skipped, counted and returned.
    pub max_rejects: u64,
}

impl TextRequest {
    /// The input spec and wanted columns: `[text]` or `[text, id]`.
    pub(crate) fn resolve(&self) -> Result<(InputSpec, Vec<WantedColumn>), EngineError> {
        let mut spec = self.input.spec();
        let format = spec.format.resolve(&spec.path);
        let extension = spec.path.extension().and_then(|extension| extension.to_str()).unwrap_or("").to_ascii_lowercase();
        match &self.text_column {
            None if spec.format == InputFormat::Lines => Ok((spec, vec![WantedColumn::required("text")])),
            None if matches!(format, InputFormat::JsonLines | InputFormat::Parquet) => Err(EngineError::Request(format!(
                "{} is {}: name its text column",
                spec.path.display(),
                if format == InputFormat::Parquet { "Parquet" } else { "JSON Lines" }
            ))),
            // A CSV or TSV has a header: scoring it line by line would score the header and
            // split quoted texts. Say so rather than guess.
            None if spec.format == InputFormat::Delimited || matches!(extension.as_str(), "csv" | "tsv" | "tab") => {
                let header = std::fs::File::open(&spec.path)
                    .ok()
                    .and_then(|file| std::io::BufRead::lines(std::io::BufReader::new(file)).next())
                    .and_then(Result::ok)
                    .map(|line| format!(" (its header: {})", rapport_core::error::truncate(line.trim(), 120)))
                    .unwrap_or_default();
                Err(EngineError::Request(format!(
                    "{} is delimited text{header}: name the column that holds the text, or read it as one text per line",
                    spec.path.display()
                )))
            }
            None => {
                spec.format = InputFormat::Lines;
                Ok((spec, vec![WantedColumn::required("text")]))
            }
            Some(text) => {
                let mut wanted = vec![WantedColumn::required(text)];
                wanted.extend(self.id_column.iter().map(WantedColumn::required));
                Ok((spec, wanted))
            }
        }
    }
}

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentimentFormat {
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentimentCounts {
    /// Texts scored.
    pub texts: u64,
    /// Rows whose text field was empty or absent (scored as empty text).
    pub missing: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SentimentOutcome {
    /// Counts.
    pub counts: SentimentCounts,
    /// Rows that could not be read (not scored), in input order.
    pub rejected: Vec<Rejected>,
    /// What the caller should say about the scores ([`read_warnings`]).
    pub warnings: Vec<String>,
}

/// What an ordered read of texts should say: bytes replaced, rows cut short.
pub fn read_warnings(report: &OrderedReport) -> Vec<String> {
    let mut warnings: Vec<String> = replaced_text_warning(report).into_iter().collect();
    if let Some(first) = report.first_short_line {
        warnings.push(format!(
            "{} row(s) have fewer fields than the header (the first at line {first}) and were read as they are, the missing fields blank: a line break inside an unquoted field, or a file cut off mid-row, looks like this",
            report.short_rows
        ));
    }
    warnings
}

/// The warning for texts read with replaced bytes, if any: their words are not the
/// writer's, and the option that reads them right is named.
fn replaced_text_warning(report: &OrderedReport) -> Option<String> {
    let first = report.first_replaced_line?;
    Some(format!(
        "{} line(s) hold bytes that are not UTF-8 (the first at line {first}), read with \u{FFFD} in their place and scored so; if the file is a Windows or Latin-1 export, give --encoding windows-1252",
        report.replaced_lines
    ))
}

struct Item {
    id: Option<String>,
    line: u64,
    text: String,
}

/// Score every text of the request's input (or of `source`, a stream such as standard
/// input) and write one row per text, in input order, a block at a time.
pub fn score_stream(
    request: &TextRequest,
    source: Option<Box<dyn Read + '_>>,
    model: SentimentModel,
    format: SentimentFormat,
    out: &mut dyn Write,
) -> Result<SentimentOutcome, EngineError> {
    let output_error = |source: std::io::Error| EngineError::Write { target: "output".into(), source };
    let (spec, wanted) = request.resolve()?;
    let has_id = wanted.len() > 1;
    let lines = spec.format == InputFormat::Lines;
    let mut outcome = SentimentOutcome::default();
    let mut header = format == SentimentFormat::Csv;
    let mut batch: Vec<Item> = Vec::new();
    let visit = |records: Vec<Record>| -> Result<(), EngineError> {
        batch.clear();
        for record in records {
            match record {
                Record::Row { mut fields, line } => {
                    let id = if has_id { Some(fields.pop().flatten().unwrap_or_default()) } else { None };
                    let text = fields.pop().flatten();
                    if text.is_none() && !lines {
                        outcome.counts.missing += 1;
                    }
                    batch.push(Item { id, line, text: text.unwrap_or_default() });
                }
                Record::Rejected(rejected) => {
                    outcome.rejected.push(rejected);
                    too_many_rejects(&outcome.rejected, request.max_rejects, true)?;
                }
            }
        }
        let scores: Vec<Scores> = batch.par_iter().map(|item| model.polarity_scores(&item.text).rounded()).collect();
        if format == SentimentFormat::Csv {
            // The project's one CSV writer, a block at a time (the header once).
            let mut table = crate::output::TableBuilder::default();
            if has_id {
                table = table.text("id", batch.iter().map(|item| item.id.as_deref().unwrap_or_default()));
            } else {
                // Without an id, the input line (or Parquet row) says which text a row scores.
                table = table.count("line", batch.iter().map(|item| item.line));
            }
            let table = table
                .float("neg", scores.iter().map(|scores| scores.neg))
                .float("neu", scores.iter().map(|scores| scores.neu))
                .float("pos", scores.iter().map(|scores| scores.pos))
                .float("compound", scores.iter().map(|scores| scores.compound))
                .build()?;
            if std::mem::take(&mut header) {
                rapport_store::output::write_csv_header(&table, out).map_err(output_error)?;
            }
            rapport_store::output::write_csv_rows(&table, out).map_err(output_error)?;
        } else {
            let mut buffer = Vec::with_capacity(batch.len() * 32);
            for (item, scores) in batch.iter().zip(&scores) {
                write_json_row(&mut buffer, item.id.as_deref(), has_id, item.line, scores).map_err(output_error)?;
            }
            out.write_all(&buffer).map_err(output_error)?;
        }
        outcome.counts.texts += batch.len() as u64;
        Ok(())
    };
    let report = scan_in_order(&spec, source, &wanted, OrderedOptions { lossy_utf8: true }, visit)?;
    outcome.warnings.extend(read_warnings(&report));
    if header {
        // No rows at all: the header still says what the columns are.
        let mut table = crate::output::TableBuilder::default();
        if has_id {
            table = table.text("id", std::iter::empty::<&str>());
        } else {
            table = table.count("line", std::iter::empty::<u64>());
        }
        let empty = std::iter::empty::<f64>;
        let table = table.float("neg", empty()).float("neu", empty()).float("pos", empty()).float("compound", empty()).build()?;
        rapport_store::output::write_csv_header(&table, out).map_err(output_error)?;
    }
    out.flush().map_err(output_error)?;
    Ok(outcome)
}

/// Fail once more rows were rejected than allowed, naming the first ones; `streaming`
/// when output was already being written (the message must not claim otherwise).
pub(crate) fn too_many_rejects(rejected: &[Rejected], max: u64, streaming: bool) -> Result<(), EngineError> {
    if rejected.len() as u64 > max {
        let (count, first) = (rejected.len() as u64, rejected.first().map(ToString::to_string).unwrap_or_default());
        return Err(if streaming {
            EngineError::TooManyRejectsStreaming { rejected: count, max, first }
        } else {
            rapport_store::StoreError::TooManyRejects { rejected: count, max, first }.into()
        });
    }
    Ok(())
}

pub(crate) fn bad(file: &str, line: u64, column: &str, expected: String) -> EngineError {
    EngineError::BadValue { file: file.to_string(), line, column: column.to_string(), expected }
}

fn write_json_row(buffer: &mut Vec<u8>, id: Option<&str>, has_id: bool, line: u64, scores: &Scores) -> std::io::Result<()> {
    let mut object = serde_json::Map::new();
    if has_id {
        object.insert("id".into(), serde_json::Value::String(id.unwrap_or_default().to_string()));
    } else {
        object.insert("line".into(), serde_json::Value::from(line));
    }
    for (name, value) in [("neg", scores.neg), ("neu", scores.neu), ("pos", scores.pos), ("compound", scores.compound)] {
        object.insert(name.into(), serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number));
    }
    serde_json::to_writer(&mut *buffer, &object)?;
    writeln!(buffer)
}

/// Pearson correlation of a model's compound with the human ratings of a VADER-paper
/// ground-truth file (`id <TAB> mean rating <TAB> text`), as in Hutto & Gilbert (2014) Table 2.
pub fn paper_correlation(reader: impl BufRead, source_name: &str, model: SentimentModel) -> Result<(usize, f64), EngineError> {
    let mut pairs = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| EngineError::Read { source_name: source_name.into(), source })?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (Some(_), Some(rating), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad(source_name, index as u64 + 1, "(row)", "id <TAB> rating <TAB> text".into()));
        };
        let rating: f64 =
            rating.trim().parse().map_err(|_| bad(source_name, index as u64 + 1, "rating", format!("a number (found {rating:?})")))?;
        pairs.push((model.polarity_scores(text).compound, rating));
    }
    let count = pairs.len() as f64;
    let (mean_x, mean_y) = (pairs.iter().map(|pair| pair.0).sum::<f64>() / count, pairs.iter().map(|pair| pair.1).sum::<f64>() / count);
    let covariance: f64 = pairs.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance_x: f64 = pairs.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let variance_y: f64 = pairs.iter().map(|(_, y)| (y - mean_y).powi(2)).sum();
    Ok((pairs.len(), covariance / (variance_x * variance_y).sqrt()))
}

/// The three classes of a labelled sentiment set.
pub const CLASSES: [&str; 3] = ["negative", "neutral", "positive"];

/// The class of a compound score, by VADER's published thresholds (±0.05).
pub fn class_of(compound: f64) -> usize {
    if compound >= 0.05 {
        2
    } else if compound <= -0.05 {
        0
    } else {
        1
    }
}

/// How one model does on a labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    /// The model.
    pub model: SentimentModel,
    /// `confusion[label][predicted]`, classes in the order of [`CLASSES`].
    pub confusion: [[u64; 3]; 3],
}

impl ClassReport {
    /// Share of texts classified correctly.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.confusion.iter().flatten().sum();
        (0..3).map(|class| self.confusion[class][class]).sum::<u64>() as f64 / total.max(1) as f64
    }

    /// F1 of each class (0 where a class is never predicted and never present).
    pub fn f1(&self) -> [f64; 3] {
        let mut f1 = [0.0; 3];
        for (class, value) in f1.iter_mut().enumerate() {
            let hits = self.confusion[class][class] as f64;
            let predicted: u64 = (0..3).map(|label| self.confusion[label][class]).sum();
            let actual: u64 = self.confusion[class].iter().sum();
            if predicted + actual > 0 {
                *value = 2.0 * hits / (predicted + actual) as f64;
            }
        }
        f1
    }

    /// Unweighted mean of the three F1 scores.
    pub fn macro_f1(&self) -> f64 {
        self.f1().iter().sum::<f64>() / 3.0
    }
}

/// Score a labelled set (tab-separated with a header holding `label` and `text` columns;
/// labels `negative|neutral|positive`, or `neg|neu|pos`, or `-1|0|1`) with each model.
pub fn evaluate_labels(reader: impl BufRead, source_name: &str, models: &[SentimentModel]) -> Result<Vec<ClassReport>, EngineError> {
    let mut csv_reader = csv::ReaderBuilder::new().delimiter(b'\t').quoting(false).from_reader(reader);
    let header: Vec<String> = csv_reader
        .headers()
        .map_err(|error| bad(source_name, 1, "(header)", format!("a header row ({error})")))?
        .iter()
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| {
        header.iter().position(|column| column == name).ok_or_else(|| {
            bad(source_name, 1, name, format!("a column named {name:?} (label <TAB> text); the header has {}", header.join(", ")))
        })
    };
    let (label_index, text_index) = (column("label")?, column("text")?);
    let mut rows: Vec<(usize, String)> = Vec::new();
    for (index, record) in csv_reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = record.map_err(|error| bad(source_name, line, "(row)", format!("label <TAB> text ({error})")))?;
        let label = record.get(label_index).unwrap_or("").trim();
        let class = match label.to_ascii_lowercase().as_str() {
            "negative" | "neg" | "-1" => 0,
            "neutral" | "neu" | "0" => 1,
            "positive" | "pos" | "1" => 2,
            _ => return Err(bad(source_name, line, "label", format!("negative, neutral or positive (found {label:?})"))),
        };
        let text = record.get(text_index).ok_or_else(|| bad(source_name, line, "text", "a text".into()))?;
        rows.push((class, text.to_string()));
    }
    Ok(models
        .iter()
        .map(|&model| {
            let mut confusion = [[0u64; 3]; 3];
            for (label, text) in &rows {
                confusion[*label][class_of(model.polarity_scores(text).compound)] += 1;
            }
            ClassReport { model, confusion }
        })
        .collect())
}
