//! Reading real exports: delimited text, JSON Lines and Parquet, in parallel.
//!
//! A scan resolves the wanted columns against the file's header (or `--columns`),
//! cuts the file into blocks at line ends, and parses the blocks on all cores. Each
//! worker feeds its own [`RowSink`]; the sinks are merged at the end, so a sink is a
//! mergeable accumulator (update / merge). Memory stays bounded: only a few blocks
//! are in flight at once, whatever the size of the file.
//!
//! Rows are never dropped silently: a row that lacks a field or holds invalid UTF-8 is
//! handed to [`RowSink::reject`] with the file, line, column and what was expected.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::StoreError;
use rapport_core::CoreError;
use rapport_core::error::truncate;

/// Field separators of delimited text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// Decide from the header (or first) line.
    #[default]
    Auto,
    /// A single byte: `,` `;` `\t` `|`.
    Byte(u8),
    /// Runs of spaces and tabs, leading and trailing ones ignored (CDNOW_master.txt).
    Whitespace,
}

impl FromStr for Delimiter {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text {
            "auto" => Ok(Delimiter::Auto),
            "," | "comma" => Ok(Delimiter::Byte(b',')),
            ";" | "semicolon" => Ok(Delimiter::Byte(b';')),
            "\t" | "\\t" | "tab" => Ok(Delimiter::Byte(b'\t')),
            "|" | "pipe" => Ok(Delimiter::Byte(b'|')),
            "whitespace" | "space" | " " => Ok(Delimiter::Whitespace),
            _ => Err(CoreError::InvalidOption { option: "delimiter", reason: format!("{text:?} is not one of , ; tab | whitespace auto") }),
        }
    }
}

impl Delimiter {
    fn describe(self) -> String {
        match self {
            Delimiter::Auto => "auto".into(),
            Delimiter::Whitespace => "whitespace".into(),
            Delimiter::Byte(b'\t') => "tab".into(),
            Delimiter::Byte(byte) => format!("{:?}", byte as char),
        }
    }
}

/// The layout of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Decide from the extension: `.jsonl`/`.ndjson`/`.json` → JSON Lines,
    /// `.parquet`/`.pq` → Parquet, anything else → delimited text.
    #[default]
    Auto,
    /// Delimited text (CSV, TSV, whitespace).
    Delimited,
    /// One JSON object per line.
    JsonLines,
    /// Apache Parquet.
    Parquet,
    /// One text per line, the whole line (no header, no quoting): the first wanted
    /// column is the line.
    Lines,
}

impl FromStr for InputFormat {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(InputFormat::Auto),
            "csv" | "tsv" | "txt" | "delimited" => Ok(InputFormat::Delimited),
            "jsonl" | "ndjson" | "json" => Ok(InputFormat::JsonLines),
            "parquet" => Ok(InputFormat::Parquet),
            "lines" => Ok(InputFormat::Lines),
            _ => Err(CoreError::InvalidOption {
                option: "input format",
                reason: format!("{text:?} is not one of csv, jsonl, parquet, lines, auto"),
            }),
        }
    }
}

impl InputFormat {
    /// The format of `path`: this one, or for `Auto` the one its extension names.
    pub fn resolve(self, path: &Path) -> InputFormat {
        if self != InputFormat::Auto {
            return self;
        }
        match path.extension().and_then(|extension| extension.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson" | "json") => InputFormat::JsonLines,
            Some("parquet" | "pq") => InputFormat::Parquet,
            _ => InputFormat::Delimited,
        }
    }
}

/// Where to read from and how.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// The file.
    pub path: PathBuf,
    /// Layout; default: from the extension.
    pub format: InputFormat,
    /// Field separator of delimited text; default: detected.
    pub delimiter: Delimiter,
    /// Column names of a headerless file (`--columns a,b,c`); `None`: the first line is
    /// the header.
    pub columns: Option<Vec<String>>,
    /// The name rows and rejects are reported under, when not the path (a table read
    /// from a database into a temporary file, say).
    pub label: Option<String>,
    /// The text's encoding, when not UTF-8 (a Windows or Latin-1 export): decoded to
    /// UTF-8 as it is read. Delimited text only; JSON Lines and Parquet are UTF-8.
    pub encoding: Option<&'static TextEncoding>,
}

/// A text encoding (`encoding_rs`'s, by WHATWG label: `windows-1252`, `latin1`,
/// `iso-8859-15`, `shift_jis`, `utf-16le`, …).
pub use encoding_rs::Encoding as TextEncoding;

/// The encoding a label names (case and surrounding spaces aside).
pub fn text_encoding(label: &str) -> Result<&'static TextEncoding, rapport_core::CoreError> {
    TextEncoding::for_label(label.trim().as_bytes()).ok_or_else(|| rapport_core::CoreError::InvalidOption {
        option: "encoding",
        reason: format!(
            "{label:?} is not an encoding Rapport knows: use a WHATWG label such as utf-8, windows-1252 (what \"latin1\" and \"iso-8859-1\" name), iso-8859-15, shift_jis or utf-16le"
        ),
    })
}

/// `source` decoded to UTF-8 from the input's encoding, when it has one other than UTF-8.
fn decoded<'a>(input: &InputSpec, format: InputFormat, source: impl Read + 'a) -> Result<Box<dyn Read + 'a>, StoreError> {
    match input.encoding.filter(|encoding| *encoding != encoding_rs::UTF_8) {
        None => {
            // A UTF-16 byte order mark names the file's encoding (a spreadsheet's "Unicode
            // text" export): decode it rather than read every other byte as NUL. (Reads
            // larger than this buffer bypass it once the peeked bytes are consumed.)
            let mut reader = BufReader::new(source);
            let head = reader.fill_buf().map_err(StoreError::read(&input.path))?;
            if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
                Ok(Box::new(encoding_rs_io::DecodeReaderBytesBuilder::new().build(reader)))
            } else {
                Ok(Box::new(reader))
            }
        }
        Some(_) if format == InputFormat::JsonLines => Err(encoding_refused(input, "JSON Lines")),
        // A byte order mark, when there is one, names the encoding (bom_override): a
        // UTF-16 file given as windows-1252 is still read right.
        Some(encoding) => {
            Ok(Box::new(encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).bom_override(true).build(source)))
        }
    }
}

fn encoding_refused(input: &InputSpec, format: &str) -> StoreError {
    StoreError::Invalid(rapport_core::CoreError::InvalidOption {
        option: "encoding",
        reason: format!("{} is {format}, whose text is UTF-8 by definition: --encoding applies to delimited text", input.name()),
    })
}

impl InputSpec {
    /// The name rows and rejects are reported under: the label, or the path as given.
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.path.display().to_string())
    }
}

/// A column the caller wants, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedColumn {
    /// Name in the input (matched exactly, then ignoring case).
    pub name: String,
    /// Whether a missing column is an error (otherwise the field is `None`).
    pub required: bool,
    /// Read only to tell rows apart (a column no field maps): in JSON Lines any value is
    /// taken as its JSON text, where a mapped field refuses an object or a list.
    pub identity_only: bool,
}

impl WantedColumn {
    /// A column that must be present.
    pub fn required(name: impl Into<String>) -> Self {
        WantedColumn { name: name.into(), required: true, identity_only: false }
    }
    /// A column that may be absent.
    pub fn optional(name: impl Into<String>) -> Self {
        WantedColumn { name: name.into(), required: false, identity_only: false }
    }
    /// A column no field maps, read only to tell rows apart.
    pub fn identity(name: impl Into<String>) -> Self {
        WantedColumn { name: name.into(), required: false, identity_only: true }
    }
}

/// A row that was not accepted, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Rejected {
    /// The input file as given.
    pub file: String,
    /// 1-based line (delimited, JSON Lines) or row (Parquet) number.
    pub line: u64,
    /// The column at fault, as named in the input.
    pub column: String,
    /// The value found (truncated for display).
    pub value: String,
    /// What was expected.
    pub expected: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}: column {:?}: found {:?}, expected {}", self.file, self.line, self.column, self.value, self.expected)
    }
}

/// Receives the rows of a scan. One sink per worker; sinks are merged at the end.
pub trait RowSink: Send + Sized {
    /// A row: the wanted fields in the order asked for (`None` for an absent optional
    /// column or an empty field).
    fn row(&mut self, line: u64, fields: &[Option<&str>]);
    /// A row the reader itself could not take.
    fn reject(&mut self, rejected: Rejected);
    /// The worker that owns this sink has no more rows: finish any buffered work here,
    /// in parallel, rather than in the serial merge.
    fn done(&mut self) {}
    /// Fold another sink into this one.
    fn merge(&mut self, other: Self);
    /// Whether the sink wants each text row's raw bytes (through [`RowSink::raw`]).
    const WANTS_RAW: bool = false;
    /// The row about to be handed over has fewer fields than the header, though every
    /// wanted column is there: a file cut off mid-row, or an exporter that leaves out
    /// trailing empty fields. Readers that take such rows may want to say so.
    fn short(&mut self, _line: u64) {}
    /// The raw bytes of the next row or reject, as they are in the input (without the
    /// line end; a quoted record may span lines). Called only when `WANTS_RAW`, and not
    /// for Parquet, which has no text.
    fn raw(&mut self, _raw: &[u8]) {}
}

/// Blocks handed to workers: about this many bytes, cut at a line end.
const BLOCK_BYTES: usize = 4 << 20;
/// Blocks of an ordered read: smaller, because each block's rows are held as owned
/// records while they are processed (4 MB blocks took a 2-million-text sentiment run
/// from 19 to 80 MB peak).
const ORDERED_BLOCK_BYTES: usize = 1 << 20;

struct Block {
    data: Vec<u8>,
    first_line: u64,
}

struct Layout {
    delimiter: Delimiter,
    /// For each wanted column, its index in the row (or `None` if optional and absent).
    indexes: Vec<Option<usize>>,
    /// Names as found in the input, for messages.
    names: Vec<String>,
    /// Fields in the header (or given column names): a row with more, non-empty ones
    /// has an unquoted delimiter or a broken quote, and is rejected.
    width: Option<usize>,
    /// The header line as written (delimited text with a header row).
    header: Option<String>,
    /// For each wanted column, whether it is read only to tell rows apart
    /// ([`WantedColumn::identity_only`]).
    identity_only: Vec<bool>,
}

/// Scan `input`, feeding the wanted columns of each row to sinks made by `make_sink`,
/// and return the merged sink.
pub fn scan<S: RowSink>(input: &InputSpec, wanted: &[WantedColumn], make_sink: impl Fn() -> S + Sync) -> Result<S, StoreError> {
    match input.format.resolve(&input.path) {
        InputFormat::Parquet => scan_parquet(input, wanted, make_sink),
        format => scan_text(input, format, wanted, make_sink),
    }
}

fn scan_text<S: RowSink>(
    input: &InputSpec,
    format: InputFormat,
    wanted: &[WantedColumn],
    make_sink: impl Fn() -> S + Sync,
) -> Result<S, StoreError> {
    let path = &input.path;
    let file = File::open(path).map_err(StoreError::read(path))?;
    let (reader, layout, first_line) = open_text(input, format, wanted, decoded(input, format, file)?)?;
    let display = input.name();

    let error_slot: Mutex<Option<StoreError>> = Mutex::new(None);
    let blocks = BlockReader::new(reader, path, first_line, format, &layout, &error_slot, BLOCK_BYTES);
    // One sink per worker thread (not per block): merging sinks costs as much as the
    // distinct keys they hold, so fewer, fuller sinks are cheaper. The reading thread
    // hands out blocks through a bounded channel, which keeps memory bounded.
    let workers = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let (sender, receiver) = crossbeam_channel::bounded::<Block>(workers * 2);
    let sinks: Vec<S> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let receiver = receiver.clone();
                let layout = &layout;
                let display = &display;
                let make_sink = &make_sink;
                scope.spawn(move || {
                    let mut sink = make_sink();
                    for block in receiver {
                        parse_block(format, &block, display, layout, wanted, &mut sink);
                    }
                    sink.done();
                    sink
                })
            })
            .collect();
        drop(receiver);
        for block in blocks {
            if sender.send(block).is_err() {
                break;
            }
        }
        drop(sender);
        handles.into_iter().filter_map(|handle| handle.join().ok()).collect()
    });
    if sinks.len() != workers {
        return Err(StoreError::Internal("a reader thread panicked".into()));
    }
    let merged = sinks.into_iter().reduce(|mut left, right| {
        left.merge(right);
        left
    });
    if let Some(error) = error_slot.into_inner().map_err(|_| StoreError::Internal("reader thread panicked".into()))? {
        return Err(error);
    }
    Ok(merged.unwrap_or_else(make_sink))
}

/// One record of an ordered read: a row with its wanted fields, or a row the reader
/// could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A row: its 1-based line (delimited text, JSON Lines, lines) or row (Parquet)
    /// number, and the wanted fields in the order asked for (`None`: absent or empty).
    Row {
        /// Line or row number.
        line: u64,
        /// The wanted fields.
        fields: Vec<Option<String>>,
    },
    /// A row that could not be read, with where and why.
    Rejected(Rejected),
}

/// How an ordered read decodes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderedOptions {
    /// Replace invalid UTF-8 with U+FFFD instead of rejecting the row: for free text,
    /// where one bad byte must not stop a gigabyte of texts.
    pub lossy_utf8: bool,
}

/// What an ordered read did besides handing over records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderedReport {
    /// Lines where invalid UTF-8 was replaced with U+FFFD (with `lossy_utf8`): a file in
    /// another encoding read as UTF-8, whose texts were scored with `�` in their words.
    pub replaced_lines: u64,
    /// The first such line.
    pub first_replaced_line: Option<u64>,
    /// Rows read with fewer fields than the header (every wanted column there), and the
    /// first one's line: a file cut off mid-row is read without complaint otherwise.
    pub short_rows: u64,
    /// The first such row's line.
    pub first_short_line: Option<u64>,
}

impl OrderedReport {
    /// Count the lines of `data` (a block starting at `first_line`) with invalid UTF-8.
    fn count_invalid(&mut self, data: &[u8], first_line: u64) {
        let (mut position, mut line, mut counted_to, mut last) = (0usize, first_line, 0usize, None);
        for chunk in data.utf8_chunks() {
            position += chunk.valid().len();
            if !chunk.invalid().is_empty() {
                line += memchr::memchr_iter(b'\n', &data[counted_to..position]).count() as u64;
                counted_to = position;
                if last != Some(line) {
                    self.replaced_lines += 1;
                    self.first_replaced_line.get_or_insert(line);
                    last = Some(line);
                }
            }
            position += chunk.invalid().len();
        }
    }
}

/// Read `input` in order, a block of records at a time (a few megabytes of input), and
/// hand each block's records to `visit` in input order. Memory holds one block.
/// `source` reads the data instead of opening `input.path` (standard input, say; the
/// path still names the data in messages and decides the format). Parquet is read from
/// the file only.
pub fn scan_in_order<E: From<StoreError>>(
    input: &InputSpec,
    source: Option<Box<dyn Read + '_>>,
    wanted: &[WantedColumn],
    options: OrderedOptions,
    mut visit: impl FnMut(Vec<Record>) -> Result<(), E>,
) -> Result<OrderedReport, E> {
    let mut report = OrderedReport::default();
    let path = &input.path;
    let display = input.name();
    let format = input.format.resolve(path);
    if format == InputFormat::Parquet {
        if source.is_some() {
            return Err(StoreError::Format { path: path.clone(), message: "Parquet is read from a file, not a stream".into() }.into());
        }
        read_parquet(input, wanted, |collected: &mut Collected| visit(std::mem::take(&mut collected.records)))?;
        return Ok(report);
    }
    let source: Box<dyn Read + '_> = match source {
        Some(source) => source,
        None => Box::new(File::open(path).map_err(StoreError::read(path))?),
    };
    let (reader, layout, first_line) = open_text(input, format, wanted, decoded(input, format, source)?)?;
    let error_slot: Mutex<Option<StoreError>> = Mutex::new(None);
    let blocks = BlockReader::new(reader, path, first_line, format, &layout, &error_slot, ORDERED_BLOCK_BYTES);
    for mut block in blocks {
        if options.lossy_utf8
            && let Err(_) = std::str::from_utf8(&block.data)
        {
            // The replacement character holds no delimiter, quote or line end, so rows,
            // fields and line numbers are unchanged.
            report.count_invalid(&block.data, block.first_line);
            block.data = String::from_utf8_lossy(&block.data).into_owned().into_bytes();
        }
        let mut collected = Collected::default();
        parse_block(format, &block, &display, &layout, wanted, &mut collected);
        report.short_rows += collected.short.0;
        report.first_short_line = report.first_short_line.or(collected.short.1);
        visit(collected.records)?;
    }
    if let Some(error) = error_slot.into_inner().map_err(|_| StoreError::Internal("reader thread panicked".into()))? {
        return Err(error.into());
    }
    Ok(report)
}

/// What an input has, known before its first row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStart {
    /// For each wanted column, whether the input has it.
    pub present: Vec<bool>,
    /// The header line as written (delimited text with a header row).
    pub header: Option<String>,
}

/// Read `input` in order, parsing blocks of rows on all cores: each block's rows go to a
/// fresh sink from `make_sink`, and the sinks reach `visit` in input order, the parsing
/// of the next blocks overlapping `visit`. Memory holds a few blocks (a few megabytes of
/// input and what the sinks make of them), whatever the size of the input. `start` sees
/// which wanted columns the input has before any row is read.
pub fn scan_blocks<S: RowSink, E: From<StoreError> + Send>(
    input: &InputSpec,
    wanted: &[WantedColumn],
    make_sink: impl Fn() -> S + Sync,
    start: impl FnOnce(&ScanStart) -> Result<(), E>,
    mut visit: impl FnMut(S) -> Result<(), E> + Send,
) -> Result<(), E> {
    use rayon::prelude::*;
    let path = &input.path;
    let display = input.name();
    let format = input.format.resolve(path);
    if format == InputFormat::Parquet {
        let builder = open_parquet(path)?;
        let present = wanted
            .iter()
            .map(|column| builder.schema().fields().iter().any(|field| field.name().eq_ignore_ascii_case(&column.name)))
            .collect();
        drop(builder);
        start(&ScanStart { present, header: None })?;
        let mut sink = make_sink();
        read_parquet_into(input, wanted, &mut sink, |sink| visit(std::mem::replace(sink, make_sink())))?;
        return visit(sink);
    }
    let file = File::open(path).map_err(StoreError::read(path))?;
    let (reader, layout, first_line) = open_text(input, format, wanted, decoded(input, format, file)?)?;
    start(&ScanStart { present: layout.indexes.iter().map(Option::is_some).collect(), header: layout.header.clone() })?;
    let error_slot: Mutex<Option<StoreError>> = Mutex::new(None);
    let mut blocks = BlockReader::new(reader, path, first_line, format, &layout, &error_slot, ORDERED_BLOCK_BYTES);
    let wave_size = rayon::current_num_threads().max(1) * 2;
    let mut parsed: Option<Vec<S>> = None;
    loop {
        let wave: Vec<Block> = blocks.by_ref().take(wave_size).collect();
        if wave.is_empty() && parsed.is_none() {
            break;
        }
        let ready = parsed.take();
        let (visited, next) = rayon::join(
            || -> Result<(), E> {
                for sink in ready.into_iter().flatten() {
                    visit(sink)?;
                }
                Ok(())
            },
            || {
                wave.par_iter()
                    .map(|block| {
                        let mut sink = make_sink();
                        parse_block(format, block, &display, &layout, wanted, &mut sink);
                        sink.done();
                        sink
                    })
                    .collect::<Vec<S>>()
            },
        );
        visited?;
        parsed = (!next.is_empty()).then_some(next);
    }
    if let Some(error) = error_slot.into_inner().map_err(|_| StoreError::Internal("reader thread panicked".into()))? {
        return Err(error.into());
    }
    Ok(())
}

/// The input's columns that read as text: [`input_columns`], less a Parquet file's nested
/// columns (lists, structs, maps), which have no text form; for JSON Lines, every key its
/// lines carry.
pub fn text_columns(input: &InputSpec) -> Result<Option<Vec<String>>, StoreError> {
    match input.format.resolve(&input.path) {
        InputFormat::Parquet => {}
        InputFormat::JsonLines => return json_keys(&input.path).map(Some),
        _ => return input_columns(input),
    }
    let builder = open_parquet(&input.path)?;
    let fields = builder.schema().fields().iter();
    Ok(Some(
        fields
            .filter(|field| arrow::compute::can_cast_types(field.data_type(), &DataType::Utf8) && !field.data_type().is_nested())
            .map(|field| field.name().clone())
            .collect(),
    ))
}

/// Every key of a JSON Lines file's objects, in alphabetical order (case aside), keys
/// differing only in case once (as first seen). Every line is read: a key that first
/// appears on the last line still tells that line's row apart. Lines that are not JSON
/// objects are left to the row reader, which rejects them with their line.
fn json_keys(path: &Path) -> Result<Vec<String>, StoreError> {
    let file = File::open(path).map_err(StoreError::read(path))?;
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut line = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(StoreError::read(path))? == 0 {
            break;
        }
        // Only the keys: the values are skipped, not built.
        let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line).trim_ascii();
        let Ok(object) = serde_json::from_slice::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(text) else {
            continue;
        };
        for key in object.into_keys() {
            if seen.insert(key.to_lowercase()) {
                keys.push(key);
            }
        }
    }
    keys.sort_by_key(|key| key.to_lowercase());
    Ok(keys)
}

/// The column names of `input`, as its header (or `--columns`, or its Parquet schema)
/// gives them; `None` for JSON Lines and lines, whose rows carry their own.
pub fn input_columns(input: &InputSpec) -> Result<Option<Vec<String>>, StoreError> {
    let path = &input.path;
    match input.format.resolve(path) {
        InputFormat::Parquet if input.encoding.is_some_and(|encoding| encoding != encoding_rs::UTF_8) => {
            Err(encoding_refused(input, "Parquet"))
        }
        InputFormat::Parquet => Ok(Some(open_parquet(path)?.schema().fields().iter().map(|field| field.name().clone()).collect())),
        InputFormat::JsonLines | InputFormat::Lines => Ok(None),
        _ => {
            if let Some(columns) = &input.columns {
                return Ok(Some(columns.iter().map(|name| name.trim().to_string()).collect()));
            }
            let file = File::open(path).map_err(StoreError::read(path))?;
            let mut line = Vec::new();
            BufReader::new(decoded(input, InputFormat::Delimited, file)?).read_until(b'\n', &mut line).map_err(StoreError::read(path))?;
            if line.starts_with(b"\xEF\xBB\xBF") {
                line.drain(..3);
            }
            let line = trim_line_end(&line);
            let delimiter = match input.delimiter {
                Delimiter::Auto => detect_delimiter(line),
                other => other,
            };
            Ok(Some(header_fields(line, delimiter)))
        }
    }
}

/// Records of one block, in order.
#[derive(Default)]
struct Collected {
    records: Vec<Record>,
    /// Rows with fewer fields than the header, and the first one's line.
    short: (u64, Option<u64>),
}

impl RowSink for Collected {
    fn short(&mut self, line: u64) {
        self.short.0 += 1;
        self.short.1.get_or_insert(line);
    }
    fn row(&mut self, line: u64, fields: &[Option<&str>]) {
        self.records.push(Record::Row { line, fields: fields.iter().map(|field| field.map(str::to_string)).collect() });
    }
    fn reject(&mut self, rejected: Rejected) {
        self.records.push(Record::Rejected(rejected));
    }
    fn merge(&mut self, other: Self) {
        self.records.extend(other.records);
        self.short.0 += other.short.0;
        self.short.1 = self.short.1.or(other.short.1);
    }
}

fn parse_block<S: RowSink>(format: InputFormat, block: &Block, file: &str, layout: &Layout, wanted: &[WantedColumn], sink: &mut S) {
    match format {
        InputFormat::JsonLines => parse_json_block(block, file, wanted, sink),
        InputFormat::Lines => parse_lines_block(block, file, layout, sink),
        _ => parse_delimited_block(block, file, layout, sink),
    }
}

/// Every line is a row (blank ones too: a text may be empty), its whole text the first
/// wanted field.
fn parse_lines_block<S: RowSink>(block: &Block, file: &str, layout: &Layout, sink: &mut S) {
    let data = &block.data[..];
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    let mut fields: Vec<Option<&str>> = vec![None; layout.indexes.len()];
    for (line, raw) in (block.first_line..).zip(data.split(|byte| *byte == b'\n')) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if S::WANTS_RAW {
            sink.raw(raw);
        }
        match std::str::from_utf8(raw) {
            Ok(text) => {
                if let Some(first) = fields.first_mut() {
                    *first = Some(text).filter(|text| !text.is_empty());
                }
                sink.row(line, &fields);
            }
            Err(error) => sink.reject(Rejected {
                file: file.into(),
                line,
                column: layout.names.first().cloned().unwrap_or_else(|| "(line)".into()),
                value: truncate(&String::from_utf8_lossy(raw), 80),
                expected: format!("valid UTF-8 text (invalid byte at offset {})", error.valid_up_to()),
            }),
        }
    }
}

/// Read the header of a text input (none for JSON Lines and lines; `input.columns`
/// when given) and resolve the wanted columns: the reader positioned at the first data
/// line, the layout, and that line's number.
fn open_text<R: Read>(
    input: &InputSpec,
    format: InputFormat,
    wanted: &[WantedColumn],
    source: R,
) -> Result<(BufReader<R>, Layout, u64), StoreError> {
    let path = &input.path;
    let mut reader = BufReader::with_capacity(1 << 16, source);
    let mut first_line = 1u64;
    let layout = match format {
        InputFormat::JsonLines => Layout {
            delimiter: Delimiter::Auto,
            indexes: (0..wanted.len()).map(Some).collect(),
            names: wanted.iter().map(|column| column.name.clone()).collect(),
            width: None,
            header: None,
            identity_only: wanted.iter().map(|column| column.identity_only).collect(),
        },
        InputFormat::Lines => Layout {
            delimiter: Delimiter::Auto,
            indexes: (0..wanted.len()).map(|index| (index == 0).then_some(0)).collect(),
            names: wanted.iter().map(|column| column.name.clone()).collect(),
            width: None,
            header: None,
            identity_only: wanted.iter().map(|column| column.identity_only).collect(),
        },
        _ => {
            let mut header_line = Vec::new();
            if input.columns.is_none() {
                reader.read_until(b'\n', &mut header_line).map_err(StoreError::read(path))?;
                first_line = 2;
                if header_line.starts_with(b"\xEF\xBB\xBF") {
                    header_line.drain(..3);
                }
                if header_line.iter().all(u8::is_ascii_whitespace) {
                    return Err(StoreError::Empty { path: path.clone(), expected: "a header row naming the columns".into() });
                }
            } else {
                let buffer = reader.fill_buf().map_err(StoreError::read(path))?;
                let end = memchr::memchr(b'\n', buffer).unwrap_or(buffer.len());
                header_line.extend_from_slice(&buffer[..end]);
                if header_line.starts_with(b"\xEF\xBB\xBF") {
                    reader.consume(3);
                    header_line.drain(..3);
                }
            }
            let mut layout = resolve_layout(input, &header_line, wanted)?;
            if input.columns.is_none() {
                layout.header = Some(String::from_utf8_lossy(trim_line_end(&header_line)).into_owned());
            }
            layout
        }
    };
    Ok((reader, layout, first_line))
}

fn resolve_layout(input: &InputSpec, first_line: &[u8], wanted: &[WantedColumn]) -> Result<Layout, StoreError> {
    let line = first_line.strip_suffix(b"\n").unwrap_or(first_line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let delimiter = match input.delimiter {
        Delimiter::Auto => detect_delimiter(line),
        other => other,
    };
    let header: Vec<String> = match &input.columns {
        Some(columns) => columns.iter().map(|name| name.trim().to_string()).collect(),
        None => header_fields(line, delimiter),
    };
    let mut indexes = Vec::with_capacity(wanted.len());
    for column in wanted {
        let found = header
            .iter()
            .position(|name| *name == column.name)
            .or_else(|| header.iter().position(|name| name.eq_ignore_ascii_case(&column.name)));
        if found.is_none() && column.required {
            let hint = if header.len() == 1 {
                let alternatives: Vec<_> = [b',', b';', b'\t', b'|']
                    .into_iter()
                    .filter(|candidate| Delimiter::Byte(*candidate) != delimiter && header[0].as_bytes().contains(candidate))
                    .map(|candidate| Delimiter::Byte(candidate).describe())
                    .collect();
                if alternatives.is_empty() {
                    format!(" (read with delimiter {})", delimiter.describe())
                } else {
                    format!(
                        " — read with delimiter {}, but the line contains {}: give the delimiter",
                        delimiter.describe(),
                        alternatives.join(" and ")
                    )
                }
            } else {
                String::new()
            };
            return Err(missing_column(input, &header, vec![column.name.clone()], hint));
        }
        indexes.push(found);
    }
    let names = wanted
        .iter()
        .zip(&indexes)
        .map(|(column, index)| index.map_or_else(|| column.name.clone(), |index| header[index].clone()))
        .collect();
    let identity_only = wanted.iter().map(|column| column.identity_only).collect();
    Ok(Layout { delimiter, indexes, names, width: Some(header.len()), header: None, identity_only })
}

/// A wanted column absent from a delimited input's header (or given column names),
/// with the names found: one wording, which the command line's hints read.
pub(crate) fn missing_column(input: &InputSpec, header: &[String], columns: Vec<String>, mut hint: String) -> StoreError {
    let source = if input.columns.is_some() { "the given column names" } else { "the header" };
    if hint.is_empty() {
        hint = column_hint(&columns, header);
    }
    StoreError::MissingColumn {
        path: input.path.clone(),
        line: if input.columns.is_some() { 0 } else { 1 },
        columns,
        found: format!(
            "{} column(s) from {source}: {}",
            header.len(),
            header.iter().map(|name| format!("{:?}", truncate(name, 40))).collect::<Vec<_>>().join(", ")
        ),
        hint,
    }
}

/// What the user most likely meant by a column the header lacks: an expression written as
/// a column name (`amount=Quantity * Price` for `amount==Quantity * Price`), or a header
/// name that contains it or that it contains (`Price` for `UnitPrice`).
fn column_hint(columns: &[String], header: &[String]) -> String {
    let Some(name) = columns.first() else { return String::new() };
    if name.contains(['*', '+', '/', '(', ')']) || name.trim().contains(" - ") {
        return " — to compute a field from columns, start its mapping with =: --map 'FIELD==EXPRESSION' (FIELD = \"= EXPRESSION\" in rapport.toml)".into();
    }
    let wanted = name.to_ascii_lowercase();
    let close: Vec<String> = header
        .iter()
        .filter(|found| {
            let found = found.to_ascii_lowercase();
            wanted.len() >= 3 && found.len() >= 3 && (found.contains(&wanted) || wanted.contains(&found))
        })
        .take(3)
        .map(|found| format!("{found:?}"))
        .collect();
    match close.as_slice() {
        [] => String::new(),
        [one] => format!(" — did you mean {one}?"),
        more => format!(" — did you mean one of {}?", more.join(", ")),
    }
}

/// Pick the delimiter that splits the line: the most frequent of `,` `;` tab `|`
/// outside quotes; runs of spaces when none of them occurs.
fn detect_delimiter(line: &[u8]) -> Delimiter {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &byte in line {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(position) = candidates.iter().position(|candidate| *candidate == byte) {
            counts[position] += 1;
        }
    }
    let (best, count) = counts.iter().enumerate().max_by_key(|(_, count)| **count).unwrap_or((0, &0));
    if *count > 0 {
        Delimiter::Byte(candidates[best])
    } else if line.trim_ascii().contains(&b' ') {
        Delimiter::Whitespace
    } else {
        Delimiter::Byte(b',')
    }
}

fn header_fields(line: &[u8], delimiter: Delimiter) -> Vec<String> {
    match delimiter {
        Delimiter::Byte(byte) => {
            // The csv crate parses the header so that quoted names work.
            let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(byte).flexible(true).from_reader(line);
            let mut record = csv::ByteRecord::new();
            match reader.read_byte_record(&mut record) {
                Ok(true) => record.iter().map(|field| String::from_utf8_lossy(field).trim().to_string()).collect(),
                _ => Vec::new(),
            }
        }
        _ => line
            .split(|byte| *byte == b' ' || *byte == b'\t')
            .filter(|field| !field.is_empty())
            .map(|field| String::from_utf8_lossy(field).to_string())
            .collect(),
    }
}

struct BlockReader<'a, R> {
    reader: R,
    path: &'a Path,
    next_line: u64,
    carry: Vec<u8>,
    quoted: bool,
    error: &'a Mutex<Option<StoreError>>,
    done: bool,
    /// Bytes read at a time (a block is at least this, cut at a line end).
    block_bytes: usize,
}

impl<'a, R: Read> BlockReader<'a, R> {
    /// Blocks of about `block_bytes` from `reader`, whose next line is `first_line`; cut
    /// outside quotes for delimited text with a one-byte delimiter.
    fn new(
        reader: R,
        path: &'a Path,
        first_line: u64,
        format: InputFormat,
        layout: &Layout,
        error: &'a Mutex<Option<StoreError>>,
        block_bytes: usize,
    ) -> Self {
        BlockReader {
            reader,
            path,
            next_line: first_line,
            carry: Vec::new(),
            quoted: format != InputFormat::Lines && matches!(layout.delimiter, Delimiter::Byte(_)),
            error,
            done: false,
            block_bytes,
        }
    }
}

impl<R: Read> Iterator for BlockReader<'_, R> {
    type Item = Block;

    fn next(&mut self) -> Option<Block> {
        if self.done {
            return None;
        }
        let mut data = std::mem::take(&mut self.carry);
        let mut scanned_to = 0;
        let mut in_quotes = false;
        loop {
            let before = data.len();
            data.resize(before + self.block_bytes, 0);
            let read = match self.reader.read(&mut data[before..]) {
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(source) => {
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(StoreError::Read { path: self.path.to_path_buf(), source });
                    }
                    self.done = true;
                    return None;
                }
            };
            data.truncate(before + read);
            if read == 0 {
                self.done = true;
                if data.is_empty() {
                    return None;
                }
                break;
            }
            // Cut after the last line end that is not inside a quoted field. Quote
            // parity is exact for RFC 4180 CSV, where a quote inside a field is doubled.
            let (cut, quotes_open) = last_cut(&data[scanned_to..], self.quoted, in_quotes);
            if let Some(cut) = cut {
                let cut = scanned_to + cut;
                self.carry = data.split_off(cut + 1);
                break;
            }
            in_quotes = quotes_open;
            scanned_to = data.len();
        }
        let lines = memchr::memchr_iter(b'\n', &data).count() as u64;
        let block = Block { data, first_line: self.next_line };
        self.next_line += lines;
        Some(block)
    }
}

/// The position of the last `\n` outside quotes in `data`, and whether quotes are open
/// at the end of `data`.
fn last_cut(data: &[u8], quoted: bool, mut in_quotes: bool) -> (Option<usize>, bool) {
    if !quoted || (!in_quotes && memchr::memchr(b'"', data).is_none()) {
        return (memchr::memrchr(b'\n', data), in_quotes);
    }
    let mut cut = None;
    for position in memchr::memchr2_iter(b'"', b'\n', data) {
        if data[position] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            cut = Some(position);
        }
    }
    (cut, in_quotes)
}

fn trim_line_end(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// Of the wanted columns a row of `found` fields lacks, the one leftmost in the file (the
/// first a reader of the row misses), as a position in the layout.
fn first_missing(layout: &Layout, found: usize) -> usize {
    layout
        .indexes
        .iter()
        .enumerate()
        .filter_map(|(position, index)| index.filter(|&index| index >= found).map(|index| (index, position)))
        .min()
        .map_or(0, |(_, position)| position)
}

/// A row with fewer fields than the wanted columns need; the row is shown as found.
#[allow(clippy::too_many_arguments)]
fn reject_short<S: RowSink>(sink: &mut S, file: &str, line: u64, layout: &Layout, position: usize, found: usize, needed: usize, row: &str) {
    let expected = match layout.width {
        // Every column is read: the header's count is what the row lacks.
        Some(width) if width == needed => {
            format!(
                "{width} fields as in the header, found {found}: the line ends early (cut off, or a line break inside an unquoted value)"
            )
        }
        _ => format!("at least {needed} fields (found {found})"),
    };
    sink.reject(Rejected {
        file: file.to_string(),
        line,
        column: layout.names[position].clone(),
        value: truncate(row.trim(), 80),
        expected,
    });
}

/// A row with more non-empty fields than the header.
fn reject_wide<S: RowSink>(sink: &mut S, file: &str, line: u64, found: usize, width: usize, raw: &[u8]) {
    sink.reject(Rejected {
        file: file.to_string(),
        line,
        column: "(row)".into(),
        value: truncate(&String::from_utf8_lossy(raw.trim_ascii()), 80),
        expected: format!("{width} fields as in the header, found {found} (an unquoted delimiter inside a value?)"),
    });
}

/// What is wrong with the quoting of one raw delimited record, if anything: a quoted
/// field must close with a quote followed by the delimiter or the line end, and quotes
/// inside it are doubled (RFC 4180). Quotes inside an unquoted field are read as they are.
fn quoting_problem(raw: &[u8], delimiter: u8) -> Option<&'static str> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let mut at = 0;
    loop {
        if raw.get(at) == Some(&b'"') {
            at += 1;
            loop {
                let Some(quote) = memchr::memchr(b'"', &raw[at..]) else {
                    return Some("a quoted value is never closed");
                };
                at += quote + 1;
                if raw.get(at) == Some(&b'"') {
                    at += 1; // a doubled quote inside the value
                    continue;
                }
                break;
            }
            match raw.get(at) {
                None => return None,
                Some(&byte) if byte == delimiter => at += 1,
                Some(_) => return Some("a quote inside a quoted value is not doubled (or the value closes early)"),
            }
        } else {
            match memchr::memchr(delimiter, &raw[at..]) {
                None => return None,
                Some(next) => at += next + 1,
            }
        }
    }
}

fn parse_delimited_block<S: RowSink>(block: &Block, file: &str, layout: &Layout, sink: &mut S) {
    let needed = layout.indexes.iter().flatten().max().map_or(0, |max| max + 1);
    let mut fields: Vec<Option<&str>> = vec![None; layout.indexes.len()];
    match layout.delimiter {
        Delimiter::Byte(delimiter) if memchr::memchr(b'"', &block.data).is_some() => {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).flexible(true).from_reader(&block.data[..]);
            let mut record = csv::ByteRecord::new();
            // Line numbers are counted here from byte offsets: the csv crate's own line count
            // fell one behind for every record with a quoted field in a CRLF file, so every
            // later rejected row was reported (and quarantined) at the wrong line.
            let data = &block.data[..];
            let (mut counted_to, mut line) = (0usize, block.first_line);
            loop {
                let mut start = (reader.position().byte() as usize).min(data.len());
                while start < data.len() && matches!(data[start], b'\r' | b'\n') {
                    start += 1;
                }
                if start > counted_to {
                    line += memchr::memchr_iter(b'\n', &data[counted_to..start]).count() as u64;
                    counted_to = start;
                }
                match reader.read_byte_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(error) => {
                        if S::WANTS_RAW {
                            let end = (reader.position().byte() as usize).min(data.len());
                            sink.raw(trim_line_end(&data[start.min(end)..end]));
                        }
                        sink.reject(Rejected {
                            file: file.into(),
                            line,
                            column: "(row)".into(),
                            value: String::new(),
                            expected: format!("a well-formed CSV row ({error})"),
                        });
                        continue;
                    }
                }
                if record.len() == 1 && record[0].trim_ascii().is_empty() {
                    continue; // blank line
                }
                // The csv crate reads a broken quote leniently (a quoted field that
                // closes early, or never, swallows the next lines); check the record's
                // own bytes so that such a row is rejected, not misread.
                let end = (reader.position().byte() as usize).min(data.len());
                let raw = &data[start.min(end)..end];
                if S::WANTS_RAW {
                    sink.raw(trim_line_end(raw));
                }
                if let Some(problem) = quoting_problem(raw, delimiter) {
                    let spans = memchr::memchr_iter(b'\n', raw.strip_suffix(b"\n").unwrap_or(raw)).count() as u64;
                    let lines = if spans > 0 { format!(" (the record runs over lines {line}–{})", line + spans) } else { String::new() };
                    sink.reject(Rejected {
                        file: file.into(),
                        line,
                        column: "(row)".into(),
                        value: truncate(&String::from_utf8_lossy(raw.trim_ascii()), 80),
                        expected: format!("a well-formed CSV row: {problem}{lines}"),
                    });
                    continue;
                }
                if let Some(width) = layout.width
                    && record.len() > width
                    && record.iter().skip(width).any(|field| !field.trim_ascii().is_empty())
                {
                    reject_wide(sink, file, line, record.len(), width, raw);
                    continue;
                }
                let values: Vec<&[u8]> = record.iter().collect();
                let mut row_fields = vec![None; layout.indexes.len()];
                emit_row(sink, file, line, layout, &values, needed, &mut row_fields);
            }
        }
        _ => {
            // Validate the whole block as UTF-8 once (SIMD-fast for ASCII) rather than each
            // field; only a block with invalid bytes takes the per-field path that names
            // the offending line and column.
            if let Ok(text) = std::str::from_utf8(&block.data) {
                return parse_text_block(text, block.first_line, file, layout, needed, sink);
            }
            let mut values: Vec<&[u8]> = Vec::with_capacity(needed.max(8));
            for (line, raw) in (block.first_line..).zip(block.data.split_inclusive(|byte| *byte == b'\n')) {
                let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                if raw.trim_ascii().is_empty() {
                    continue;
                }
                if S::WANTS_RAW {
                    sink.raw(raw);
                }
                values.clear();
                match layout.delimiter {
                    Delimiter::Byte(delimiter) => values.extend(raw.split(|byte| *byte == delimiter)),
                    _ => values.extend(raw.split(|byte| *byte == b' ' || *byte == b'\t').filter(|field| !field.is_empty())),
                }
                emit_row(sink, file, line, layout, &values, needed, &mut fields);
            }
        }
    }
}

fn parse_text_block<S: RowSink>(text: &str, first_line: u64, file: &str, layout: &Layout, needed: usize, sink: &mut S) {
    let mut values: Vec<&str> = Vec::with_capacity(needed.max(8));
    let mut fields: Vec<Option<&str>> = vec![None; layout.indexes.len()];
    // Lines are found with memchr over the whole block and fields by a byte loop: rows are
    // a few dozen bytes, where `str::split(char)` paid a memchr call per field (a tenth of
    // a ten-million-row summary's instructions). Cutting at an ASCII byte always falls on
    // a character boundary, so the slices stay `&str`.
    let bytes = text.as_bytes();
    let mut line_start = 0;
    let ends = memchr::memchr_iter(b'\n', bytes).chain((bytes.last() != Some(&b'\n') && !bytes.is_empty()).then_some(bytes.len()));
    for (line, end) in (first_line..).zip(ends) {
        let raw = &text[line_start..end];
        line_start = end + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim_ascii().is_empty() {
            continue;
        }
        if S::WANTS_RAW {
            sink.raw(raw.as_bytes());
        }
        values.clear();
        match layout.delimiter {
            Delimiter::Byte(delimiter) => {
                let mut from = 0;
                for (index, &byte) in raw.as_bytes().iter().enumerate() {
                    if byte == delimiter {
                        values.push(&raw[from..index]);
                        from = index + 1;
                    }
                }
                values.push(&raw[from..]);
            }
            _ => values.extend(raw.split([' ', '\t']).filter(|field| !field.is_empty())),
        }
        if values.len() < needed {
            let position = first_missing(layout, values.len());
            reject_short(sink, file, line, layout, position, values.len(), needed, raw);
            continue;
        }
        if let Some(width) = layout.width
            && values.len() > width
            && values[width..].iter().any(|field| !field.trim_ascii().is_empty())
        {
            reject_wide(sink, file, line, values.len(), width, raw.as_bytes());
            continue;
        }
        if matches!(layout.delimiter, Delimiter::Byte(_)) && layout.width.is_some_and(|width| values.len() < width) {
            sink.short(line);
        }
        for (slot, index) in fields.iter_mut().zip(&layout.indexes) {
            *slot = index.map(|index| values[index]).filter(|value| !value.trim_ascii().is_empty());
        }
        sink.row(line, &fields);
    }
}

fn emit_row<'a, S: RowSink>(
    sink: &mut S,
    file: &str,
    line: u64,
    layout: &Layout,
    values: &[&'a [u8]],
    needed: usize,
    fields: &mut Vec<Option<&'a str>>,
) {
    if values.len() < needed {
        let position = first_missing(layout, values.len());
        let row: Vec<std::borrow::Cow<'_, str>> = values.iter().map(|value| String::from_utf8_lossy(value)).collect();
        let separator = match layout.delimiter {
            Delimiter::Byte(byte) => (byte as char).to_string(),
            _ => " ".to_string(),
        };
        reject_short(sink, file, line, layout, position, values.len(), needed, &row.join(&separator));
        return;
    }
    if matches!(layout.delimiter, Delimiter::Byte(_)) && layout.width.is_some_and(|width| values.len() < width) {
        sink.short(line);
    }
    // A column read only to tell rows apart is not refused for bytes that are not UTF-8
    // (a Latin-1 `£` in a description no field maps): its bytes are kept, escaped.
    let mut escaped: Vec<(usize, String)> = Vec::new();
    for (position, (slot, (index, name))) in fields.iter_mut().zip(layout.indexes.iter().zip(&layout.names)).enumerate() {
        *slot = None;
        let Some(index) = index else { continue };
        let raw = values[*index];
        match std::str::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => *slot = Some(text),
            Err(_) if layout.identity_only.get(position).copied().unwrap_or(false) => escaped.push((position, escape_bytes(raw))),
            Err(error) => {
                sink.reject(Rejected {
                    file: file.into(),
                    line,
                    column: name.clone(),
                    value: truncate(&String::from_utf8_lossy(raw), 80),
                    expected: format!("valid UTF-8 text (invalid byte at offset {})", error.valid_up_to()),
                });
                return;
            }
        }
    }
    if escaped.is_empty() {
        sink.row(line, fields);
    } else {
        let mut with_escaped: Vec<Option<&str>> = fields.clone();
        for (position, text) in &escaped {
            with_escaped[*position] = Some(text);
        }
        sink.row(line, &with_escaped);
    }
}

/// Bytes as text, each byte that is not part of valid UTF-8 written `\xNN`: lossless, so
/// rows that differ only in such bytes stay apart (`from_utf8_lossy` would make every
/// one U+FFFD).
fn escape_bytes(raw: &[u8]) -> String {
    let mut text = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// A JSON number as text: a whole number written as a float (`17850.0`, `1.785e4`, as
/// exporters that pass ids through a float column write them) reads as the integer, so an
/// id is the same customer however its file spelled the number.
fn json_number_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(value) if number.is_f64() && whole(value) => format!("{}", value as i64),
        _ => number.to_string(),
    }
}

/// Whether a float is an integer that an f64 holds exactly (below 2^53).
fn whole(value: f64) -> bool {
    value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0
}

/// A Parquet float as text: a whole one as the integer (see [`json_number_text`]), others
/// as Rust writes them (the shortest text that reads back as the same float).
fn float_text(value: f64) -> String {
    if whole(value) { format!("{}", value as i64) } else { value.to_string() }
}

fn parse_json_block<S: RowSink>(block: &Block, file: &str, wanted: &[WantedColumn], sink: &mut S) {
    let mut owned: Vec<Option<String>> = vec![None; wanted.len()];
    for (this_line, raw) in (block.first_line..).zip(block.data.split_inclusive(|byte| *byte == b'\n')) {
        if raw.trim_ascii().is_empty() {
            continue;
        }
        if S::WANTS_RAW {
            sink.raw(trim_line_end(raw));
        }
        let object: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(raw) {
            Ok(object) => object,
            Err(error) => {
                sink.reject(Rejected {
                    file: file.into(),
                    line: this_line,
                    column: "(row)".into(),
                    value: truncate(&String::from_utf8_lossy(raw.trim_ascii()), 80),
                    expected: format!("a JSON object ({error})"),
                });
                continue;
            }
        };
        let mut bad = None;
        for (slot, column) in owned.iter_mut().zip(wanted) {
            let value = object
                .get(&column.name)
                .or_else(|| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(&column.name)).map(|(_, value)| value));
            *slot = match value {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(text)) if text.trim().is_empty() => None,
                Some(serde_json::Value::String(text)) => Some(text.clone()),
                Some(serde_json::Value::Number(number)) => Some(json_number_text(number)),
                Some(serde_json::Value::Bool(flag)) => Some(flag.to_string()),
                Some(other) if column.identity_only => Some(other.to_string()),
                Some(other) => {
                    bad = Some((column.name.clone(), other.to_string()));
                    None
                }
            };
        }
        if let Some((column, value)) = bad {
            sink.reject(Rejected {
                file: file.into(),
                line: this_line,
                column,
                value: truncate(&value, 80),
                expected: "a string, number or boolean".into(),
            });
            continue;
        }
        let fields: Vec<Option<&str>> = owned.iter().map(Option::as_deref).collect();
        sink.row(this_line, &fields);
    }
}

fn scan_parquet<S: RowSink>(input: &InputSpec, wanted: &[WantedColumn], make_sink: impl Fn() -> S) -> Result<S, StoreError> {
    let mut sink = make_sink();
    read_parquet_into(input, wanted, &mut sink, |_| Ok::<(), StoreError>(()))?;
    Ok(sink)
}

/// A Parquet file opened for reading; a file that is not Parquet is a data error.
fn open_parquet(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, StoreError> {
    let file = File::open(path).map_err(StoreError::read(path))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_format_error(path))
}

fn parquet_format_error(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> StoreError + '_ {
    move |error| StoreError::Format { path: path.to_path_buf(), message: format!("not a readable Parquet file: {error}") }
}

/// A whole Parquet file as one record batch, with its schema's metadata (a customer
/// table written by Rapport keeps its window there). For small tables such as customer
/// summaries; event files are scanned instead.
pub fn read_parquet_file(path: &Path) -> Result<arrow::record_batch::RecordBatch, StoreError> {
    let builder = open_parquet(path)?;
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .map_err(parquet_format_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Format { path: path.to_path_buf(), message: format!("reading Parquet: {error}") })?;
    let batch = arrow::compute::concat_batches(&schema, &batches)?;
    null_as_nan(batch)
}

/// `batch` with the value under every null of a float column set to NaN (the null stays):
/// code that reads a float column as a slice then sees Rapport's "none", whatever the
/// writer left there.
fn null_as_nan(batch: arrow::record_batch::RecordBatch) -> Result<arrow::record_batch::RecordBatch, StoreError> {
    use arrow::array::{Array, AsArray, Float64Array};
    if !batch.columns().iter().any(|column| column.as_primitive_opt::<arrow::datatypes::Float64Type>().is_some_and(|c| c.null_count() > 0))
    {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.as_primitive_opt::<arrow::datatypes::Float64Type>() {
            Some(floats) if floats.null_count() > 0 => {
                let values: Vec<f64> = floats.iter().map(|value| value.unwrap_or(f64::NAN)).collect();
                std::sync::Arc::new(Float64Array::new(values.into(), floats.nulls().cloned())) as arrow::array::ArrayRef
            }
            _ => column.clone(),
        })
        .collect();
    Ok(arrow::record_batch::RecordBatch::try_new(batch.schema(), columns)?)
}

/// Read a Parquet file's record batches in order into a fresh `Collected`, handing it to
/// `end_batch` after each batch.
fn read_parquet<E: From<StoreError>>(
    input: &InputSpec,
    wanted: &[WantedColumn],
    end_batch: impl FnMut(&mut Collected) -> Result<(), E>,
) -> Result<(), E> {
    read_parquet_into(input, wanted, &mut Collected::default(), end_batch)
}

/// Feed the wanted columns of a Parquet file's rows (as text) to `sink`, calling
/// `end_batch` after each record batch.
fn read_parquet_into<S: RowSink, E: From<StoreError>>(
    input: &InputSpec,
    wanted: &[WantedColumn],
    sink: &mut S,
    mut end_batch: impl FnMut(&mut S) -> Result<(), E>,
) -> Result<(), E> {
    let path = &input.path;
    if input.encoding.is_some_and(|encoding| encoding != encoding_rs::UTF_8) {
        return Err(E::from(encoding_refused(input, "Parquet")));
    }
    let format_error = parquet_format_error(path);
    let builder = open_parquet(path)?;
    let schema = builder.schema().clone();
    let mut indexes = Vec::new();
    for column in wanted {
        let found = schema
            .fields()
            .iter()
            .position(|field| field.name() == &column.name)
            .or_else(|| schema.fields().iter().position(|field| field.name().eq_ignore_ascii_case(&column.name)));
        if found.is_none() && column.required {
            return Err(E::from(StoreError::MissingColumn {
                path: path.clone(),
                line: 0,
                columns: vec![column.name.clone()],
                found: format!(
                    "{} column(s) in the Parquet schema: {}",
                    schema.fields().len(),
                    schema.fields().iter().map(|field| format!("{:?}", field.name())).collect::<Vec<_>>().join(", ")
                ),
                hint: String::new(),
            }));
        }
        indexes.push(found);
    }
    let leaves: Vec<usize> = indexes.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), leaves.clone());
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(format_error)?;
    let mut row_number = 0u64;
    for batch in reader {
        let batch = batch.map_err(|error| StoreError::Format { path: path.clone(), message: format!("reading Parquet: {error}") })?;
        // Projected columns come back in schema order; map each wanted column to its
        // position in the batch.
        let mut sorted = leaves.clone();
        sorted.sort_unstable();
        let mut columns = Vec::with_capacity(wanted.len());
        for index in &indexes {
            columns.push(match index {
                None => None,
                Some(index) => {
                    let position = sorted.binary_search(index).map_err(|_| StoreError::Internal("projection lost a column".into()))?;
                    let column = batch.column(position);
                    let as_text = match column.data_type() {
                        DataType::Utf8 => column.clone(),
                        // Whole floats as integers, as in JSON Lines: an id column written as
                        // float64 (17850.0) names the customer the integer names.
                        DataType::Float64 | DataType::Float32 => {
                            let floats = arrow::compute::cast(column, &DataType::Float64).map_err(StoreError::from)?;
                            let floats = floats.as_primitive::<arrow::datatypes::Float64Type>();
                            let texts: arrow::array::StringArray = floats.iter().map(|value| value.map(float_text)).collect();
                            std::sync::Arc::new(texts) as arrow::array::ArrayRef
                        }
                        _ => arrow::compute::cast(column, &DataType::Utf8).map_err(StoreError::from)?,
                    };
                    Some(as_text)
                }
            });
        }
        let strings: Vec<Option<&arrow::array::StringArray>> =
            columns.iter().map(|column| column.as_ref().map(|array| array.as_string::<i32>())).collect();
        let mut fields: Vec<Option<&str>> = vec![None; wanted.len()];
        for row in 0..batch.num_rows() {
            row_number += 1;
            for (slot, column) in fields.iter_mut().zip(&strings) {
                *slot = column.and_then(|array| (!array.is_null(row)).then(|| array.value(row))).filter(|text| !text.trim().is_empty());
            }
            sink.row(row_number, &fields);
        }
        end_batch(sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        rows: Vec<(u64, Vec<Option<String>>)>,
        rejected: Vec<Rejected>,
    }

    impl RowSink for Collect {
        fn row(&mut self, line: u64, fields: &[Option<&str>]) {
            self.rows.push((line, fields.iter().map(|field| field.map(str::to_string)).collect()));
        }
        fn reject(&mut self, rejected: Rejected) {
            self.rejected.push(rejected);
        }
        fn merge(&mut self, other: Self) {
            self.rows.extend(other.rows);
            self.rejected.extend(other.rejected);
        }
    }

    fn scan_text_of(content: &[u8], name: &str, spec: impl FnOnce(&mut InputSpec), wanted: &[WantedColumn]) -> Result<Collect, StoreError> {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join(name);
        std::fs::write(&path, content).expect("write");
        let mut input = InputSpec { path, ..InputSpec::default() };
        spec(&mut input);
        let mut collected = scan(&input, wanted, Collect::default)?;
        collected.rows.sort_by_key(|row| row.0);
        Ok(collected)
    }

    fn wanted(names: &[&str]) -> Vec<WantedColumn> {
        names.iter().map(|name| WantedColumn::required(*name)).collect()
    }

    #[test]
    fn delimiters_are_detected() {
        for (content, delimiter) in [
            ("id,date,amount\n1,2020-01-01,3\n", ","),
            ("id;date;amount\n1;2020-01-01;3\n", ";"),
            ("id\tdate\tamount\n1\t2020-01-01\t3\n", "tab"),
            ("id|date|amount\n1|2020-01-01|3\n", "|"),
            ("  id   date  amount\n 1 2020-01-01    3\n", "whitespace"),
        ] {
            let collected = scan_text_of(content.as_bytes(), "x.csv", |_| {}, &wanted(&["amount", "id"])).expect(delimiter);
            assert_eq!(collected.rows, vec![(2, vec![Some("3".into()), Some("1".into())])], "{delimiter}");
        }
    }

    #[test]
    fn quoted_fields_with_newlines_keep_line_numbers() {
        let content = "id,text\n1,\"two\nlines\"\n2,plain\n";
        let collected = scan_text_of(content.as_bytes(), "x.csv", |_| {}, &wanted(&["id", "text"])).expect("scan");
        assert_eq!(collected.rows[0], (2, vec![Some("1".into()), Some("two\nlines".into())]));
        assert_eq!(collected.rows[1].0, 4);
    }

    #[test]
    fn headerless_with_columns() {
        let collected = scan_text_of(b"a 1\nb 2\n", "x.txt", |input| input.columns = Some(vec!["id".into(), "n".into()]), &wanted(&["n"]))
            .expect("scan");
        assert_eq!(collected.rows, vec![(1, vec![Some("1".into())]), (2, vec![Some("2".into())])]);
    }

    #[test]
    fn missing_column_names_file_line_and_hint() {
        let error =
            scan_text_of(b"id;date;amount\n1;2020-01-01;3\n", "x.csv", |input| input.delimiter = Delimiter::Byte(b','), &wanted(&["date"]))
                .err()
                .expect("error");
        let message = error.to_string();
        assert!(message.contains("x.csv:1: no column \"date\""), "{message}");
        assert!(message.contains("';'"), "{message}");
        // A column the header lacks but nearly has, and an expression mapped as a column
        // (one = where two compute), get what was most likely meant.
        let header = b"InvoiceNo,Quantity,UnitPrice\n1,2,3\n";
        let message = scan_text_of(header, "x.csv", |_| {}, &wanted(&["Price"])).err().expect("error").to_string();
        assert!(message.contains("no column \"Price\"") && message.ends_with("did you mean \"UnitPrice\"?"), "{message}");
        let message = scan_text_of(header, "x.csv", |_| {}, &wanted(&["Quantity * UnitPrice"])).err().expect("error").to_string();
        assert!(message.contains("start its mapping with =: --map 'FIELD==EXPRESSION'"), "{message}");
        let message = scan_text_of(header, "x.csv", |_| {}, &wanted(&["Country"])).err().expect("error").to_string();
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn empty_file_is_an_error() {
        let error = scan_text_of(b"", "x.csv", |_| {}, &wanted(&["id"])).err().expect("error");
        assert!(error.to_string().contains("the file is empty"), "{error}");
    }

    #[test]
    fn invalid_utf8_and_short_rows_are_rejected_with_position() {
        let collected = scan_text_of(b"id,amount\n\xff\xfe,3\n2\n3,4", "x.csv", |_| {}, &wanted(&["id", "amount"])).expect("scan");
        assert_eq!(collected.rows, vec![(4, vec![Some("3".into()), Some("4".into())])]);
        let mut rejected = collected.rejected;
        rejected.sort_by_key(|rejected| rejected.line);
        assert_eq!((rejected[0].line, rejected[0].column.as_str()), (2, "id"));
        assert!(rejected[0].expected.contains("UTF-8"));
        assert_eq!((rejected[1].line, rejected[1].column.as_str()), (3, "amount"));
    }

    #[test]
    fn json_lines() {
        let content = b"{\"id\": 1, \"amount\": 2.5}\n{\"id\": \"b\"}\nnot json\n{\"id\": [1], \"amount\": 1}\n";
        let collected =
            scan_text_of(content, "x.jsonl", |_| {}, &[WantedColumn::required("id"), WantedColumn::optional("amount")]).expect("scan");
        assert_eq!(collected.rows, vec![(1, vec![Some("1".into()), Some("2.5".into())]), (2, vec![Some("b".into()), None])]);
        assert_eq!(collected.rejected.len(), 2);
    }

    /// A Windows-1252 export (£ is byte 0xA3, é 0xE9): read with its encoding, its text
    /// is decoded; read as UTF-8, such rows are rejected as not UTF-8. JSON Lines refuses
    /// an encoding (JSON is UTF-8).
    #[test]
    fn text_in_another_encoding_is_decoded() {
        let content = b"id,description\n1,Gift Voucher \xa340.00\n2,caf\xe9 au lait\n3,plain\n";
        let windows = text_encoding("latin1").expect("label");
        assert_eq!(windows.name(), "windows-1252");
        let collected =
            scan_text_of(content, "x.csv", |input| input.encoding = Some(windows), &wanted(&["id", "description"])).expect("scan");
        let texts: Vec<Option<String>> = collected.rows.iter().map(|(_, fields)| fields[1].clone()).collect();
        assert_eq!(texts, ["Gift Voucher £40.00", "café au lait", "plain"].map(|text| Some(text.to_string())));
        let collected = scan_text_of(content, "x.csv", |_| {}, &wanted(&["id", "description"])).expect("scan");
        assert_eq!((collected.rows.len(), collected.rejected.len()), (1, 2));
        assert!(collected.rejected[0].expected.starts_with("valid UTF-8 text"), "{:?}", collected.rejected);
        // A UTF-16 file with its byte order mark needs no option.
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("id,description\n1,caf\u{e9}\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let collected = scan_text_of(&utf16, "x.csv", |_| {}, &wanted(&["id", "description"])).expect("scan");
        assert_eq!(collected.rows, vec![(2, vec![Some("1".to_string()), Some("café".to_string())])], "{:?}", collected.rejected);
        let refused = scan_text_of(b"{\"id\": 1}\n", "x.jsonl", |input| input.encoding = Some(windows), &wanted(&["id"]));
        assert!(refused.is_err_and(|error| error.to_string().contains("UTF-8 by definition")));
        assert!(text_encoding("klingon").is_err());
    }

    /// A column read only to tell rows apart (one no field maps) is not refused for bytes
    /// that are not UTF-8: they are kept escaped, so two rows that differ only there stay
    /// two rows. A mapped column with such bytes still rejects its row.
    #[test]
    fn bytes_that_are_not_utf8_in_an_identity_column_are_kept_escaped() {
        let content = b"id,description\n1,Gift Voucher \xa340.00\n1,Gift Voucher \xa540.00\n2,caf\xe9\n";
        let columns = [WantedColumn::required("id"), WantedColumn::identity("description")];
        let collected = scan_text_of(content, "x.csv", |_| {}, &columns).expect("scan");
        assert!(collected.rejected.is_empty(), "{:?}", collected.rejected);
        let texts: Vec<Option<String>> = collected.rows.iter().map(|(_, fields)| fields[1].clone()).collect();
        assert_eq!(texts, ["Gift Voucher \\xA340.00", "Gift Voucher \\xA540.00", "caf\\xE9"].map(|text| Some(text.to_string())));
        let collected = scan_text_of(content, "x.csv", |_| {}, &wanted(&["id", "description"])).expect("scan");
        assert_eq!((collected.rows.len(), collected.rejected.len()), (0, 3));
    }

    /// A whole number spelled as a float is the same id as the integer; others keep their text.
    #[test]
    fn json_whole_numbers_read_as_integers() {
        let content = b"{\"id\": 17850}\n{\"id\": 17850.0}\n{\"id\": 1.785e4}\n{\"id\": 2.5}\n{\"id\": -3.0}\n{\"id\": 1e300}\n";
        let collected = scan_text_of(content, "x.jsonl", |_| {}, &[WantedColumn::required("id")]).expect("scan");
        let ids: Vec<Option<String>> = collected.rows.into_iter().map(|(_, fields)| fields[0].clone()).collect();
        let expected = ["17850", "17850", "17850", "2.5", "-3", "1e+300"].map(|id| Some(id.to_string()));
        assert_eq!(ids, expected);
    }

    #[test]
    fn blocks_split_big_files_without_losing_rows() {
        let mut content = String::from("id,text\n");
        for index in 0..300_000 {
            content.push_str(&format!("{index},\"quoted, {index}\"\n"));
        }
        let collected = scan_text_of(content.as_bytes(), "x.csv", |_| {}, &wanted(&["id", "text"])).expect("scan");
        assert_eq!(collected.rows.len(), 300_000);
        for (position, (line, fields)) in collected.rows.iter().enumerate() {
            assert_eq!(*line, position as u64 + 2);
            assert_eq!(fields[0].as_deref(), Some(position.to_string().as_str()));
        }
    }

    #[test]
    fn ten_megabyte_field() {
        let big = "x".repeat(10 << 20);
        let content = format!("id,text\n1,{big}\n2,small\n");
        let collected = scan_text_of(content.as_bytes(), "x.csv", |_| {}, &wanted(&["id", "text"])).expect("scan");
        assert_eq!(collected.rows.len(), 2);
        assert_eq!(collected.rows[0].1[1].as_ref().map(String::len), Some(10 << 20));
    }

    /// Every record of an ordered read, from a file written with `content`.
    fn in_order(content: &[u8], name: &str, wanted: &[WantedColumn], options: OrderedOptions) -> Result<Vec<Record>, StoreError> {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join(name);
        std::fs::write(&path, content).expect("write");
        let input = InputSpec { path, ..InputSpec::default() };
        let mut records = Vec::new();
        let mut blocks = 0;
        scan_in_order(&input, None, wanted, options, |block| {
            blocks += 1;
            records.extend(block);
            Ok::<(), StoreError>(())
        })?;
        assert!(blocks >= 1 || records.is_empty());
        Ok(records)
    }

    fn row(line: u64, fields: &[Option<&str>]) -> Record {
        Record::Row { line, fields: fields.iter().map(|field| field.map(str::to_string)).collect() }
    }

    #[test]
    fn ordered_read_keeps_input_order_across_blocks() {
        let mut content = String::from("id,text\n");
        for index in 0..300_000 {
            content.push_str(&format!("{index},\"said: \"\"{index}\"\"\nand more\"\n"));
        }
        let records = in_order(content.as_bytes(), "x.csv", &wanted(&["text", "id"]), OrderedOptions::default()).expect("read");
        assert_eq!(records.len(), 300_000);
        for (index, record) in records.iter().enumerate() {
            let text = format!("said: \"{index}\"\nand more");
            assert_eq!(*record, row(2 + 2 * index as u64, &[Some(&text), Some(&index.to_string())]));
        }
    }

    #[test]
    fn ordered_read_of_lines_keeps_blank_lines_and_rejects_or_replaces_bad_bytes() {
        let content = b"first\r\n\nthird \xff byte\nlast";
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("texts.txt");
        std::fs::write(&path, content).expect("write");
        let read = |lossy_utf8| {
            let input = InputSpec { path: path.clone(), format: InputFormat::Lines, ..InputSpec::default() };
            let mut records = Vec::new();
            let report = scan_in_order(&input, None, &wanted(&["text"]), OrderedOptions { lossy_utf8 }, |block| {
                records.extend(block);
                Ok::<(), StoreError>(())
            })
            .expect("read");
            (records, report)
        };
        let (strict, report) = read(false);
        assert_eq!(report, OrderedReport::default());
        assert_eq!(strict[0], row(1, &[Some("first")]));
        assert_eq!(strict[1], row(2, &[None]));
        assert!(matches!(&strict[2], Record::Rejected(rejected) if rejected.line == 3 && rejected.expected.contains("UTF-8")));
        assert_eq!(strict[3], row(4, &[Some("last")]));
        let (lossy, report) = read(true);
        assert_eq!(report, OrderedReport { replaced_lines: 1, first_replaced_line: Some(3), ..OrderedReport::default() });
        assert_eq!(lossy[2], row(3, &[Some("third \u{FFFD} byte")]));
        assert_eq!(lossy.len(), 4);
    }

    #[test]
    fn ordered_read_from_a_stream_and_json_lines() {
        let input = InputSpec { path: "stdin.jsonl".into(), ..InputSpec::default() };
        let data: &[u8] = b"{\"text\": \"a\", \"id\": 7}\nnot json\n{\"text\": null}\n";
        let mut records = Vec::new();
        scan_in_order(&input, Some(Box::new(data)), &wanted(&["text", "id"]), OrderedOptions::default(), |block| {
            records.extend(block);
            Ok::<(), StoreError>(())
        })
        .expect("read");
        assert_eq!(records[0], row(1, &[Some("a"), Some("7")]));
        assert!(matches!(&records[1], Record::Rejected(rejected) if rejected.line == 2 && rejected.column == "(row)"));
        assert_eq!(records[2], row(3, &[None, None]));
    }

    #[test]
    fn ordered_read_of_parquet() {
        use arrow::array::{Int64Array, StringArray};
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("texts.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("Text", DataType::Utf8, true)]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(vec![Some("good"), None, Some("bad")]))],
        )
        .expect("batch");
        let mut writer = parquet::arrow::ArrowWriter::try_new(File::create(&path).expect("create"), schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let input = InputSpec { path, ..InputSpec::default() };
        let mut records = Vec::new();
        scan_in_order(&input, None, &wanted(&["text", "id"]), OrderedOptions::default(), |block| {
            records.extend(block);
            Ok::<(), StoreError>(())
        })
        .expect("read");
        assert_eq!(records, [row(1, &[Some("good"), Some("1")]), row(2, &[None, Some("2")]), row(3, &[Some("bad"), Some("3")])]);
        let refused =
            scan_in_order(&input, Some(Box::new(&b""[..])), &wanted(&["text"]), OrderedOptions::default(), |_| Ok::<(), StoreError>(()));
        assert!(refused.is_err(), "Parquet needs the file");
    }

    /// A float64 id column (a pandas export of ids with blanks) names the customers the
    /// integers name, as in JSON Lines; other floats keep their digits.
    #[test]
    fn parquet_whole_floats_read_as_integers() {
        use arrow::array::Float64Array;
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("ids.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("CustomerID", DataType::Float64, true)]));
        let values = Float64Array::from(vec![Some(17850.0), None, Some(2.5), Some(-3.0), Some(0.1 + 0.2)]);
        let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("batch");
        let mut writer = parquet::arrow::ArrowWriter::try_new(File::create(&path).expect("create"), schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let input = InputSpec { path, ..InputSpec::default() };
        let collected = scan(&input, &wanted(&["customerid"]), Collect::default).expect("scan");
        let ids: Vec<Option<String>> = collected.rows.into_iter().map(|(_, fields)| fields[0].clone()).collect();
        let expected = [Some("17850"), None, Some("2.5"), Some("-3"), Some("0.30000000000000004")].map(|id| id.map(str::to_string));
        assert_eq!(ids, expected);
    }

    /// A broken quote or an unquoted delimiter is a rejected row, not a misread one; a
    /// doubled quote, a multi-line value and a trailing empty field are fine. (After a
    /// quote that never closes, quote parity is lost for the rest of the file: the rows
    /// it swallows are rejected with it, never read as something else.)
    #[test]
    fn broken_quotes_and_extra_fields_are_rejected() {
        let content = b"id,body\n1,\"fine, \"\"thanks\"\"\"\n4,\"two\nlines\"\n5,\"bad \"quote\" here\"\n6,a,b\n7,ok,\n2,\"unterminated here\n3,\"awful service\"\n";
        let collected = scan_text_of(content, "x.csv", |_| {}, &wanted(&["id", "body"])).expect("scan");
        let rows: Vec<(u64, Option<String>)> = collected.rows.iter().map(|(line, fields)| (*line, fields[1].clone())).collect();
        assert_eq!(
            rows,
            [(2, Some("fine, \"thanks\"".to_string())), (3, Some("two\nlines".to_string())), (7, Some("ok".to_string()))],
            "{:?}",
            collected.rejected
        );
        let mut rejected: Vec<(u64, String)> = collected.rejected.iter().map(|row| (row.line, row.expected.clone())).collect();
        rejected.sort();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert!(rejected[0].0 == 5 && rejected[0].1.contains("not doubled"), "{rejected:?}");
        assert!(rejected[1].0 == 6 && rejected[1].1.contains("2 fields as in the header, found 3"), "{rejected:?}");
        assert!(rejected[2].0 == 8 && rejected[2].1.contains("lines 8–9"), "{rejected:?}");
        // Without quotes anywhere (the fast path), extra fields are caught too.
        let collected = scan_text_of(b"id,body\n1,a\n2,b,c\n3,d,\n", "y.csv", |_| {}, &wanted(&["id", "body"])).expect("scan");
        assert_eq!(collected.rows.len(), 2);
        assert_eq!(collected.rejected.len(), 1);
        assert!(collected.rejected[0].expected.contains("2 fields as in the header, found 3"), "{:?}", collected.rejected);
    }
}
