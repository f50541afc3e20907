//! Sentiment of every text of a file, streamed in order.
//!
//! Texts are read in batches, scored on all cores, and written in input order, so a
//! file of any size streams through in bounded memory (a batch at a time).

use std::io::{BufRead, Write};

use rapport_text::Scores;
pub use rapport_text::SentimentModel;
use rayon::prelude::*;

use crate::EngineError;

/// Texts per batch.
const BATCH: usize = 16_384;

/// How to read texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    /// One text per line.
    Lines,
    /// A CSV (or TSV, by `delimiter`) with a text column and optionally an id column.
    Csv {
        /// Field separator.
        delimiter: u8,
        /// Text column.
        text_column: String,
        /// Id column copied to the output.
        id_column: Option<String>,
    },
    /// JSON Lines with a text field and optionally an id field.
    JsonLines {
        /// Text field.
        text_column: String,
        /// Id field copied to the output.
        id_column: Option<String>,
    },
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
    /// Rows whose text was missing or not a string (scored as empty text).
    pub missing: u64,
}

struct Item {
    id: Option<String>,
    text: String,
}

/// Score every text of `input` and write one row per text, in order.
pub fn score_stream(
    source_name: &str,
    reader: impl BufRead,
    input: &TextInput,
    model: SentimentModel,
    format: SentimentFormat,
    out: &mut dyn Write,
) -> Result<SentimentCounts, EngineError> {
    let output_error = |source: std::io::Error| EngineError::Write { target: "output".into(), source };
    let has_id = matches!(input, TextInput::Csv { id_column: Some(_), .. } | TextInput::JsonLines { id_column: Some(_), .. });
    let mut counts = SentimentCounts::default();
    let mut header = format == SentimentFormat::Csv;
    let mut write_batch = |batch: &mut Vec<Item>, out: &mut dyn Write| -> Result<(), EngineError> {
        let scores: Vec<Scores> = batch.par_iter().map(|item| model.polarity_scores(&item.text).rounded()).collect();
        if format == SentimentFormat::Csv {
            // The project's one CSV writer, a batch at a time (the header once).
            let mut table = crate::output::TableBuilder::default();
            if has_id {
                table = table.text("id", batch.iter().map(|item| item.id.as_deref().unwrap_or_default()));
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
                write_json_row(&mut buffer, item.id.as_deref(), has_id, scores).map_err(output_error)?;
            }
            out.write_all(&buffer).map_err(output_error)?;
        }
        counts.texts += batch.len() as u64;
        batch.clear();
        Ok(())
    };
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    match input {
        TextInput::Lines => {
            let mut reader = reader;
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line).map_err(|source| EngineError::Read { source_name: source_name.into(), source })? == 0
                {
                    break;
                }
                let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
                let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
                // Invalid UTF-8 is replaced (U+FFFD), not fatal: one bad byte must not stop
                // a gigabyte of text. The replacement character carries no sentiment.
                batch.push(Item { id: None, text: String::from_utf8_lossy(trimmed).into_owned() });
                if batch.len() == BATCH {
                    write_batch(&mut batch, out)?;
                }
            }
        }
        TextInput::Csv { delimiter, text_column, id_column } => {
            let (mut csv_reader, header) = delimited_with_header(source_name, reader, *delimiter)?;
            let text_index = column_index(source_name, &header, "a text", text_column)?;
            let id_index = id_column.as_ref().map(|name| column_index(source_name, &header, "an id", name)).transpose()?;
            let mut record = csv::ByteRecord::new();
            loop {
                let line = csv_reader.position().line();
                match csv_reader.read_byte_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(error) => return Err(bad(source_name, line, "(row)", format!("a well-formed CSV row ({error})"))),
                }
                let text = record.get(text_index);
                if text.is_none() {
                    counts.missing += 1;
                }
                batch.push(Item {
                    id: id_index.map(|index| String::from_utf8_lossy(record.get(index).unwrap_or_default()).into_owned()),
                    text: String::from_utf8_lossy(text.unwrap_or_default()).into_owned(),
                });
                if batch.len() == BATCH {
                    write_batch(&mut batch, out)?;
                }
            }
        }
        TextInput::JsonLines { text_column, id_column } => {
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(|source| EngineError::Read { source_name: source_name.into(), source })?;
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&line)
                    .map_err(|error| bad(source_name, index as u64 + 1, "(row)", format!("a JSON object ({error})")))?;
                let text = match object.get(text_column) {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    _ => {
                        counts.missing += 1;
                        String::new()
                    }
                };
                let id = id_column.as_ref().map(|name| match object.get(name) {
                    Some(serde_json::Value::String(id)) => id.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                });
                batch.push(Item { id, text });
                if batch.len() == BATCH {
                    write_batch(&mut batch, out)?;
                }
            }
        }
    }
    if !batch.is_empty() {
        write_batch(&mut batch, out)?;
    }
    out.flush().map_err(output_error)?;
    Ok(counts)
}

/// A delimited reader (flexible rows) and its header, trimmed.
pub(crate) fn delimited_with_header<R: BufRead>(
    source_name: &str,
    reader: R,
    delimiter: u8,
) -> Result<(csv::Reader<R>, Vec<String>), EngineError> {
    let mut csv_reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(reader);
    let header = csv_reader
        .byte_headers()
        .map_err(|error| bad(source_name, 1, "(header)", error.to_string()))?
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_string())
        .collect();
    Ok((csv_reader, header))
}

/// The position of column `name` in `header` (exact, else ignoring case); the error names
/// the file, line 1, the column, and what the header has. `role` reads "a text", "an id"…
pub(crate) fn column_index(source_name: &str, header: &[String], role: &str, name: &str) -> Result<usize, EngineError> {
    header
        .iter()
        .position(|column| column == name)
        .or_else(|| header.iter().position(|column| column.eq_ignore_ascii_case(name)))
        .ok_or_else(|| bad(source_name, 1, name, format!("{role} column named {name:?}; the header has {}", header.join(", "))))
}

pub(crate) fn bad(file: &str, line: u64, column: &str, expected: String) -> EngineError {
    EngineError::BadValue { file: file.to_string(), line, column: column.to_string(), expected }
}

fn write_json_row(buffer: &mut Vec<u8>, id: Option<&str>, has_id: bool, scores: &Scores) -> std::io::Result<()> {
    let mut object = serde_json::Map::new();
    if has_id {
        object.insert("id".into(), serde_json::Value::String(id.unwrap_or_default().to_string()));
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
