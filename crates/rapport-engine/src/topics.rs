//! Complaint topics of a file of customer texts: which texts are negative (by the
//! sentiment model), what they are about, how big each pain point is and how it moves
//! over time.

use std::collections::BTreeMap;
use std::io::Read;

use rapport_core::time::{Period, TimeFormat, Zone, format_date};
use rapport_text::SentimentModel;
pub use rapport_text::topics::TopicOptions;
use rapport_text::topics::{find_topics, normalized_mutual_information, purity};
use rayon::prelude::*;
use serde::Serialize;

use crate::EngineError;
use crate::input::FileInput;
use crate::sentiment::{TextRequest, bad, too_many_rejects};
use rapport_store::input::{OrderedOptions, Record, Rejected, WantedColumn, scan_in_order};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Which columns hold what.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextColumns {
    /// `None`: one text per line. Otherwise the text column (CSV / TSV / Parquet) or
    /// field (JSON Lines).
    pub text: Option<String>,
    /// Column copied to the output to identify each text.
    pub id: Option<String>,
    /// Column with each text's time, for the trend.
    pub time: Option<String>,
    /// Column with a known theme per text, to score the topics against (NMI, purity).
    pub label: Option<String>,
    /// Read only the rows whose column (first) holds the value (second), ignoring case and
    /// surrounding spaces: `inbound` = `true` leaves out an agent's replies.
    pub only: Option<(String, String)>,
}

/// How to find topics.
#[derive(Debug, Clone)]
pub struct TopicsRequest {
    /// The texts (with a stream given to [`complaint_topics`], the path only names the
    /// data and its extension decides the format).
    pub input: FileInput,
    /// Input columns.
    pub columns: TextColumns,
    /// Rows that cannot be read allowed before the run stops; they are left out and
    /// returned in the report.
    pub max_rejects: u64,
    /// Sentiment model that decides which texts are negative.
    pub model: SentimentModel,
    /// Group every text, not only the negative ones.
    pub all: bool,
    /// Clustering options.
    pub options: TopicOptions,
    /// Bucket of the trend.
    pub trend_period: Period,
    /// How times are written.
    pub time_format: TimeFormat,
    /// Zone of naive times and period boundaries.
    pub zone: Zone,
    /// Example texts per topic.
    pub examples: usize,
}

/// One row of input.
#[derive(Debug, Clone, Default)]
struct Row {
    /// The data row of the input (1-based, header excluded, rejected rows counted).
    row: usize,
    line: u64,
    text: String,
    id: Option<String>,
    time: Option<String>,
    label: Option<String>,
    /// Whether the row says it was written by the brand (a column `inbound` false, or
    /// `direction` outbound), where the file has such a column and no `--only` is given.
    outbound: bool,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct TopicReport {
    /// Texts read.
    pub texts: usize,
    /// Texts grouped (the negative ones, or all with `--all`).
    pub grouped: usize,
    /// Grouped texts with no usable words (left without a topic).
    pub unassigned: usize,
    /// Which texts were grouped.
    pub selection: String,
    /// How the number of topics was set: "given" or "silhouette".
    pub chosen_by: String,
    /// Mean silhouette per number of topics tried.
    pub silhouettes: Vec<Silhouette>,
    /// Terms kept for clustering.
    pub vocabulary: usize,
    /// Topics, largest first.
    pub topics: Vec<TopicSummary>,
    /// Agreement with a known labelling, when `--label-column` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// Every text's topic, in input order.
    pub assignments: Vec<Assignment>,
    /// Rows that could not be read (left out), in input order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// The rows `--only` left out, with the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<OnlyReport>,
    /// What the reader should know about the texts (`sentiment::read_warnings`; an
    /// `--only` that matched nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What `--only` did.
#[derive(Debug, Clone, Serialize)]
pub struct OnlyReport {
    /// The condition, as `column = value`.
    pub condition: String,
    /// Rows read and left out because they did not meet it.
    pub left_out: u64,
}

/// Silhouette of one k.
#[derive(Debug, Clone, Serialize)]
pub struct Silhouette {
    /// Number of topics.
    pub topics: usize,
    /// Mean silhouette (cosine distance) on the sample.
    pub silhouette: f64,
}

/// One topic in the report.
#[derive(Debug, Clone, Serialize)]
pub struct TopicSummary {
    /// 1-based topic number (largest first).
    pub topic: usize,
    /// Key terms and phrases.
    pub label: String,
    /// Key single words.
    pub terms: Vec<String>,
    /// Key two-word phrases.
    pub phrases: Vec<String>,
    /// Texts in the topic.
    pub size: usize,
    /// Share of the grouped texts.
    pub share: f64,
    /// Mean compound sentiment of its texts.
    pub mean_compound: f64,
    /// Texts nearest the topic's centre.
    pub examples: Vec<String>,
    /// Texts per period (every period from the first to the last, zeros included).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<TrendPoint>,
}

/// Count of a topic in one period.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// First day of the period.
    pub period: String,
    /// Texts.
    pub count: usize,
    /// For a first or last week or month the dated texts cover only in part, the share of
    /// its days they cover (its count is lower for that); absent for whole periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered: Option<f64>,
}

/// Agreement of the topics with known labels.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Labelled texts that were grouped and assigned.
    pub texts: usize,
    /// Distinct labels among them.
    pub labels: usize,
    /// Normalised mutual information (arithmetic normalisation).
    pub nmi: f64,
    /// Purity.
    pub purity: f64,
}

/// One text's topic.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    /// 1-based row of the input (data rows, header excluded).
    pub row: usize,
    /// The id column's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Compound sentiment.
    pub compound: f64,
    /// Topic number, or none when the text was not grouped or had no usable words.
    pub topic: Option<usize>,
}

impl TopicReport {
    /// Every text's topic as CSV: `row, id, compound, topic, label`.
    pub fn write_assignments_csv(&self, out: &mut dyn std::io::Write) -> Result<(), EngineError> {
        let assignments = &self.assignments;
        let label = |topic: Option<usize>| topic.map_or("", |topic| self.topics[topic - 1].label.as_str());
        let table = crate::output::TableBuilder::default()
            .count("row", assignments.iter().map(|assignment| assignment.row as u64))
            .text("id", assignments.iter().map(|assignment| assignment.id.as_deref().unwrap_or_default()))
            .float("compound", assignments.iter().map(|assignment| assignment.compound))
            .text("topic", assignments.iter().map(|assignment| assignment.topic.map(|topic| topic.to_string()).unwrap_or_default()))
            .text("label", assignments.iter().map(|assignment| label(assignment.topic)))
            .build()?;
        rapport_store::output::write(&table, crate::output::OutputFormat::Csv, out)
            .and_then(|()| out.flush())
            .map_err(EngineError::write("output"))
    }
}

/// The rows read, those rejected, how many `only` left out, and what the reader replaced.
type ReadRows = (Vec<Row>, Vec<Rejected>, u64, rapport_store::input::OrderedReport);

/// Columns that tell the brand's rows from the customers' (see [`Row::outbound`]).
const DIRECTION_COLUMNS: [&str; 2] = ["inbound", "direction"];

fn read_rows(request: &TopicsRequest, source: Option<Box<dyn Read + '_>>) -> Result<ReadRows, EngineError> {
    let columns = &request.columns;
    // The same resolution as sentiment: one text per line without a text column.
    let text_request =
        TextRequest { input: request.input.clone(), text_column: columns.text.clone(), id_column: None, max_rejects: request.max_rejects };
    let (spec, mut wanted) = text_request.resolve()?;
    let only_column = columns.only.as_ref().map(|(column, _)| column.clone());
    let optional = [&columns.id, &columns.time, &columns.label, &only_column];
    if columns.text.is_some() {
        wanted.extend(optional.iter().filter_map(|name| name.as_ref().map(WantedColumn::required)));
    } else if let Some(name) = optional.iter().find_map(|name| name.as_ref()) {
        return Err(EngineError::Request(format!("column {name:?} needs --text-column: texts read one per line have no other columns")));
    }
    // Without --only, a column that tells the brand's rows from the customers' is read to
    // say how many of the grouped texts are the brand's (TWCS's replies made a topic of
    // apologies): `inbound` (false: the brand's) or `direction` (outbound).
    let sides = columns.text.is_some() && columns.only.is_none();
    if sides {
        wanted.extend(DIRECTION_COLUMNS.iter().map(|name| WantedColumn::optional(*name)));
    }
    let wanted_value = columns.only.as_ref().map(|(_, value)| value.trim().to_lowercase());
    let (mut rows, mut rejected, mut left_out, mut seen) = (Vec::new(), Vec::new(), 0_u64, 0_usize);
    let report = scan_in_order(&spec, source, &wanted, OrderedOptions { lossy_utf8: true }, |records: Vec<Record>| {
        for record in records {
            seen += 1;
            match record {
                Record::Row { line, fields } => {
                    let mut fields = fields.into_iter();
                    let text = fields.next().flatten().unwrap_or_default();
                    let mut next = |given: &Option<String>| given.as_ref().map(|_| fields.next().flatten().unwrap_or_default());
                    let (id, time, label, only) = (next(&columns.id), next(&columns.time), next(&columns.label), next(&only_column));
                    let outbound = sides && {
                        let (inbound, direction) = (fields.next().flatten(), fields.next().flatten());
                        let inbound = inbound.map(|value| value.trim().to_ascii_lowercase());
                        let direction = direction.map(|value| value.trim().to_ascii_lowercase());
                        matches!(inbound.as_deref(), Some("false" | "f" | "0" | "no" | "n"))
                            || matches!(direction.as_deref(), Some("outbound" | "out" | "agent" | "brand"))
                    };
                    if let (Some(wanted), Some(found)) = (&wanted_value, only)
                        && found.trim().to_lowercase() != *wanted
                    {
                        left_out += 1;
                        continue;
                    }
                    rows.push(Row { row: seen, line, text, id, time, label, outbound });
                }
                Record::Rejected(one) => {
                    rejected.push(one);
                    too_many_rejects(&rejected, request.max_rejects, false)?;
                }
            }
        }
        Ok::<(), EngineError>(())
    })?;
    Ok((rows, rejected, left_out, report))
}

/// Read the texts, score them, group the selected ones into topics, and report.
///
/// `source` reads the texts from a stream (standard input, say) instead of the file.
pub fn complaint_topics(request: &TopicsRequest, source: Option<Box<dyn Read + '_>>) -> Result<TopicReport, EngineError> {
    let source_name = request.input.path.display().to_string();
    let source_name = source_name.as_str();
    let (rows, rejected, left_out, replaced) = read_rows(request, source)?;
    let mut warnings = crate::sentiment::read_warnings(&replaced);
    if let Some((column, value)) = request.columns.only.as_ref().filter(|_| rows.is_empty() && left_out > 0) {
        warnings.push(format!(
            "--only {column}={value} matched none of the {left_out} rows read: check the column's values (the match ignores case and surrounding spaces)"
        ));
    }
    let compounds: Vec<f64> = rows.par_iter().map(|row| request.model.polarity_scores(&row.text).rounded().compound).collect();
    let selected: Vec<usize> = (0..rows.len()).filter(|&index| request.all || compounds[index] <= -0.05).collect();
    // Times first: a bad one is reported before any work is done.
    let time_column = request.columns.time.as_deref().unwrap_or("time");
    let mut periods: Vec<Option<i64>> = vec![None; rows.len()];
    // Each text's local time, for the dates a warning names.
    let mut locals: Vec<Option<i64>> = vec![None; rows.len()];
    for &index in &selected {
        if let Some(time) = rows[index].time.as_deref().filter(|time| !time.trim().is_empty()) {
            let parsed = request.time_format.parse(time).map_err(|_| {
                bad(source_name, rows[index].line, time_column, format!("{} (found {time:?})", request.time_format.expected()))
            })?;
            let local = request.zone.local_seconds(parsed);
            periods[index] = Some(request.trend_period.index(local));
            locals[index] = Some(local);
        }
    }
    // What the data covers is read from every dated text, grouped or not (a time the
    // grouped texts do not need is read where it parses, and otherwise left out).
    let every: Vec<Option<i64>> = rows
        .par_iter()
        .zip(&locals)
        .map(|(row, local)| {
            local.or_else(|| {
                let time = row.time.as_deref().filter(|time| !time.trim().is_empty())?;
                request.time_format.parse(time).ok().map(|parsed| request.zone.local_seconds(parsed))
            })
        })
        .collect();
    let brand = selected.iter().filter(|&&index| rows[index].outbound).count();
    if brand > 0 && brand * 10 >= selected.len() {
        warnings.push(format!(
            "{brand} of the {} grouped texts ({:.0}%) are the brand's own (a column inbound = false or direction = outbound says so): its replies and apologies are grouped with the customers' words; give --only inbound=true (or --only direction=inbound) to group the customers' texts alone",
            selected.len(),
            100.0 * brand as f64 / selected.len() as f64
        ));
    }
    let texts: Vec<&str> = selected.iter().map(|&index| rows[index].text.as_str()).collect();
    let found = find_topics(&texts, &request.options);
    let mut topic_of: Vec<Option<usize>> = vec![None; rows.len()];
    for (position, &index) in selected.iter().enumerate() {
        topic_of[index] = found.assignments[position];
    }
    let (first, last) = trend_span(&periods, &locals, request.trend_period, &mut warnings);
    let covered = partial_ends(&every, first.zip(last), request.trend_period, &mut warnings);
    let topics = found
        .topics
        .iter()
        .enumerate()
        .map(|(number, topic)| {
            let members: Vec<usize> = selected.iter().copied().filter(|&index| topic_of[index] == Some(number)).collect();
            let trend = match (first, last) {
                (Some(first), Some(last)) => {
                    let mut counts: BTreeMap<i64, usize> = (first..=last).map(|period| (period, 0)).collect();
                    for &index in &members {
                        if let Some(period) = periods[index].filter(|period| (first..=last).contains(period)) {
                            *counts.entry(period).or_default() += 1;
                        }
                    }
                    counts
                        .into_iter()
                        .map(|(period, count)| TrendPoint {
                            period: format_date(request.trend_period.start_seconds(period)),
                            count,
                            covered: covered.iter().find(|(index, _)| *index == period).map(|(_, share)| *share),
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            TopicSummary {
                topic: number + 1,
                label: topic.label.clone(),
                terms: topic.terms.clone(),
                phrases: topic.phrases.clone(),
                size: topic.size,
                share: topic.size as f64 / selected.len().max(1) as f64,
                mean_compound: members.iter().map(|&index| compounds[index]).sum::<f64>() / members.len().max(1) as f64,
                examples: topic.examples.iter().take(request.examples).map(|&position| texts[position].to_string()).collect(),
                trend,
            }
        })
        .collect();
    let evaluation = request.columns.label.as_ref().map(|_| {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let (mut truth, mut groups) = (Vec::new(), Vec::new());
        for &index in &selected {
            if let (Some(label), Some(topic)) = (rows[index].label.as_deref(), topic_of[index]) {
                let next = names.len();
                truth.push(*names.entry(label).or_insert(next));
                groups.push(topic);
            }
        }
        Evaluation {
            texts: truth.len(),
            labels: names.len(),
            nmi: normalized_mutual_information(&truth, &groups),
            purity: purity(&truth, &groups),
        }
    });
    let assignments = rows
        .iter()
        .enumerate()
        .map(|(index, row)| Assignment {
            row: row.row,
            id: row.id.clone(),
            compound: compounds[index],
            topic: topic_of[index].map(|topic| topic + 1),
        })
        .collect();
    Ok(TopicReport {
        texts: rows.len(),
        grouped: selected.len(),
        unassigned: found.assignments.iter().filter(|topic| topic.is_none()).count(),
        selection: if request.all { "all texts".into() } else { format!("negative texts: {} compound <= -0.05", request.model.name()) },
        chosen_by: if request.options.topics.is_some() { "given".into() } else { "silhouette".into() },
        silhouettes: found.silhouettes.iter().map(|&(topics, silhouette)| Silhouette { topics, silhouette }).collect(),
        vocabulary: found.vocabulary,
        topics,
        evaluation,
        assignments,
        rejected,
        only: request
            .columns
            .only
            .as_ref()
            .map(|(column, value)| OnlyReport { condition: format!("{column} = {}", value.trim()), left_out }),
        warnings,
    })
}

/// The periods the trend spans: from the first dated text's to the last's, unless a few
/// outliers stretch it. A handful of texts years before the rest (three tweets from
/// 2011–2016 beside five thousand from 2017) made a trend of 77 mostly empty months: where
/// the outliers on one side stretch the trend by more than the periods of the central 98%
/// of the dated texts span (and by more than three periods), that side is cut to them and
/// a warning says what it left out (the texts still count in their topics).
fn trend_span(periods: &[Option<i64>], locals: &[Option<i64>], period: Period, warnings: &mut Vec<String>) -> (Option<i64>, Option<i64>) {
    let mut dated: Vec<i64> = periods.iter().flatten().copied().collect();
    dated.sort_unstable();
    let (Some(&first), Some(&last)) = (dated.first(), dated.last()) else { return (None, None) };
    let n = dated.len();
    let tail = n / 100;
    let (low, high) = (dated[tail], dated[n - 1 - tail]);
    // A side is cut where its outliers would stretch the trend by more than the central
    // periods span (and more than three periods): a month's stragglers stay.
    let reach = (high - low + 1).max(3);
    let (start, end) = (if low - first > reach { low } else { first }, if last - high > reach { high } else { last });
    if (start, end) == (first, last) {
        return (Some(first), Some(last));
    }
    let (before, after) = (dated.partition_point(|&p| p < start), n - dated.partition_point(|&p| p <= end));
    let date = |index: i64| format_date(period.start_seconds(index));
    let (earliest, latest) =
        (locals.iter().flatten().min().copied().unwrap_or_default(), locals.iter().flatten().max().copied().unwrap_or_default());
    let mut parts = Vec::new();
    if before > 0 {
        parts.push(format!("{before} dated before {} (the earliest {})", date(start), format_date(earliest)));
    }
    if after > 0 {
        parts.push(format!("{after} dated after the period of {} (the latest {})", date(end), format_date(latest)));
    }
    warnings.push(format!(
        "the trend spans the periods from {} to {}; it leaves out {}: the few texts on that side (at most 1% of the dated ones) would stretch it far beyond the other {} (they still count in their topics)",
        date(start),
        date(end),
        parts.join(" and "),
        n - before - after
    ));
    (Some(start), Some(end))
}

/// The first and last periods of a weekly or monthly trend that the dated texts cover in
/// part: data from the 15th of a month, or to the 3rd, puts fewer texts in that month for
/// no change in the customers. Each such period with the share of its days covered, and a
/// warning that says so. Hours and days are not judged (a date alone does not say how much
/// of a day the data covers), nor a trend of one period.
fn partial_ends(locals: &[Option<i64>], span: Option<(i64, i64)>, period: Period, warnings: &mut Vec<String>) -> Vec<(i64, f64)> {
    let Some((first, last)) = span.filter(|(first, last)| first < last && matches!(period, Period::Week | Period::Month)) else {
        return Vec::new();
    };
    let days = |seconds: Option<i64>| seconds.map(|seconds| seconds.div_euclid(DAY));
    let inside = || locals.iter().flatten().copied().filter(|&local| (first..=last).contains(&period.index(local)));
    let (Some(earliest), Some(latest)) = (days(inside().min()), days(inside().max())) else {
        return Vec::new();
    };
    let bounds = |index: i64| (period.start_seconds(index).div_euclid(DAY), period.start_seconds(index + 1).div_euclid(DAY));
    let (first_start, first_end) = bounds(first);
    let (last_start, last_end) = bounds(last);
    let ends =
        [("first", first, first_end - earliest, first_end - first_start), ("last", last, latest + 1 - last_start, last_end - last_start)];
    let partial: Vec<_> = ends.into_iter().filter(|&(_, _, covered, length)| covered < length).collect();
    if partial.is_empty() {
        return Vec::new();
    }
    let unit = if period == Period::Week { "week" } else { "month" };
    let said: Vec<String> = partial
        .iter()
        .map(|&(which, index, covered, length)| {
            format!("the {which} {unit} ({}) {covered} of its {length} days", format_date(period.start_seconds(index)))
        })
        .collect();
    warnings.push(format!(
        "the dated texts cover {}: a count there is lower for that, not comparable with a whole {unit}'s (the trend's points say how much of the {unit} is covered)",
        said.join(", and ")
    ));
    partial.into_iter().map(|(_, index, covered, length)| (index, covered as f64 / length as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> i64 {
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
        date.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp()
    }

    fn month(text: &str) -> i64 {
        Period::Month.index(day(text))
    }

    /// Three texts years before 500 others (as TWCS's stray 2011 tweets) are cut from the
    /// trend with a warning; a few in the month after the rest stay; without outliers the
    /// trend spans every period.
    #[test]
    fn the_trend_leaves_out_outliers_years_away_and_says_so() {
        let mut periods: Vec<Option<i64>> = vec![Some(month("2011-08-01")), Some(month("2013-02-01")), Some(month("2016-05-01"))];
        periods.extend((0..500).map(|index| Some(month(if index % 2 == 0 { "2017-10-01" } else { "2017-11-01" }))));
        periods.extend([Some(month("2017-12-01")), Some(month("2017-12-01")), None]);
        let mut warnings = Vec::new();
        let mut locals = vec![None; periods.len()];
        locals[0] = Some(day("2011-08-29"));
        locals[3] = Some(day("2017-10-02"));
        assert_eq!(trend_span(&periods, &locals, Period::Month, &mut warnings), (Some(month("2017-10-01")), Some(month("2017-12-01"))));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("leaves out 3 dated before 2017-10-01 (the earliest 2011-08-29)"), "{}", warnings[0]);
        let mut warnings = Vec::new();
        let even: Vec<Option<i64>> = (0..300).map(|index| Some(month("2015-01-01") + index % 30)).collect();
        assert_eq!(trend_span(&even, &even, Period::Month, &mut warnings), (Some(month("2015-01-01")), Some(month("2017-06-01"))));
        assert!(warnings.is_empty());
        assert_eq!(trend_span(&[None, None], &[None, None], Period::Month, &mut warnings), (None, None));
    }

    /// Texts from 15 October to 3 December (TWCS's last month held three days): the first
    /// and last months are flagged with the share of their days covered, November is not;
    /// data covering whole months, and daily trends, are not flagged.
    #[test]
    fn a_month_the_data_covers_in_part_is_flagged() {
        let locals: Vec<Option<i64>> =
            ["2017-10-15", "2017-11-01", "2017-11-30", "2017-12-03"].iter().map(|text| Some(day(text) + 3_600)).collect();
        let mut warnings = Vec::new();
        let covered = partial_ends(&locals, Some((month("2017-10-01"), month("2017-12-01"))), Period::Month, &mut warnings);
        assert_eq!(covered, vec![(month("2017-10-01"), 17.0 / 31.0), (month("2017-12-01"), 3.0 / 31.0)]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "the dated texts cover the first month (2017-10-01) 17 of its 31 days, and the last month (2017-12-01) 3 of its 31 days"
            ),
            "{}",
            warnings[0]
        );
        let whole: Vec<Option<i64>> = ["2017-10-01", "2017-11-30"].iter().map(|text| Some(day(text))).collect();
        let span = Some((month("2017-10-01"), month("2017-11-01")));
        assert!(partial_ends(&whole, span, Period::Month, &mut warnings).is_empty());
        let daily: Vec<Option<i64>> = locals.iter().map(|local| local.map(|local| Period::Day.index(local))).collect();
        assert!(partial_ends(&locals, Some((daily[0].unwrap_or(0), daily[3].unwrap_or(0))), Period::Day, &mut warnings).is_empty());
        assert_eq!(warnings.len(), 1);
    }
}
