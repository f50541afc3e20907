//! Charts as inline SVG, drawn from the numbers alone: the report opens with no network
//! and no script. Written by hand rather than with a plotting crate because the charts
//! are few and simple (bars with interval whiskers, lines with interval bands, a heat
//! map, histograms, a hexagon-binned map), and hand-written SVG keeps each one
//! accessible: a title and a description for screen readers, and the data as a table
//! beside it (see `html.rs`).

use maud::{Markup, PreEscaped, html};

/// Okabe–Ito colours, distinguishable with the common colour-vision deficiencies.
pub const PALETTE: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
const WIDTH: f64 = 720.0;
const INK: &str = "#1f2328";
const GRID: &str = "#d0d7de";

/// A number for a chart label: few digits, thousands grouped.
pub fn short(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 {
        group(format!("{value:.0}"))
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude == 0.0 {
        "0".into()
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    text.replace("-", "−")
}

/// `1234567` as `1,234,567`.
pub fn group(text: String) -> String {
    let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(whole, fraction)| (whole, Some(fraction)));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

fn frame(id: &str, title: &str, description: &str, height: f64, body: Markup) -> Markup {
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height:.0}")) role="img" aria-labelledby=(format!("{id}-t {id}-d")) class="chart" {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { (description) }
            (body)
        }
    }
}

/// A linear scale from `domain` to `range`.
#[derive(Clone, Copy)]
struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn new(domain: (f64, f64), range: (f64, f64)) -> Scale {
        let (low, high) = domain;
        let domain = if (high - low).abs() < 1e-12 { (low - 1.0, high + 1.0) } else { domain };
        Scale { domain, range }
    }

    fn at(self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        r0 + (value.clamp(d0.min(d1), d0.max(d1)) - d0) / (d1 - d0) * (r1 - r0)
    }

    /// About `count` round ticks across the domain.
    fn ticks(self, count: usize) -> Vec<f64> {
        let (low, high) = (self.domain.0.min(self.domain.1), self.domain.0.max(self.domain.1));
        let raw = (high - low) / count.max(1) as f64;
        let power = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|step| *step >= raw).unwrap_or(power * 10.0);
        let mut ticks = Vec::new();
        let mut tick = (low / step).ceil() * step;
        while tick <= high + step * 1e-9 {
            ticks.push(if tick.abs() < step * 1e-9 { 0.0 } else { tick });
            tick += step;
        }
        ticks
    }
}

/// One bar: a label, a value and its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// What the bar is.
    pub label: String,
    /// Its value.
    pub value: f64,
    /// Its interval, when it has one.
    pub interval: Option<(f64, f64)>,
    /// Text after the bar (the sample, say).
    pub note: String,
}

/// Horizontal bars from zero (negative values to the left), with interval whiskers, and
/// a reference line at `reference` when given (1 for odds ratios).
pub fn bars(id: &str, title: &str, description: &str, rows: &[Bar], reference: Option<f64>) -> Markup {
    let row_height = 26.0;
    let (top, bottom) = (10.0, 30.0);
    let height = top + bottom + row_height * rows.len().max(1) as f64;
    let finite = |value: f64| value.is_finite().then_some(value);
    let values = rows.iter().flat_map(|bar| {
        [finite(bar.value), bar.interval.and_then(|(low, _)| finite(low)), bar.interval.and_then(|(_, high)| finite(high))]
    });
    let values: Vec<f64> = values.flatten().chain(reference).collect();
    let base = reference.unwrap_or(0.0);
    let low = values.iter().copied().fold(base, f64::min);
    let high = values.iter().copied().fold(base, f64::max);
    let pad = (high - low) * 0.04;
    let (left, right) = (200.0, WIDTH - 170.0);
    let x = Scale::new((low - if low < base { pad } else { 0.0 }, high + pad), (left, right));
    let body = html! {
        @for tick in x.ticks(6) {
            line x1=(x.at(tick)) x2=(x.at(tick)) y1=(top) y2=(height - bottom) stroke=(GRID) {}
            text x=(x.at(tick)) y=(height - bottom + 16.0) text-anchor="middle" class="tick" { (short(tick)) }
        }
        @for (index, bar) in rows.iter().enumerate() {
            @let y = top + row_height * index as f64;
            text x=(left - 8.0) y=(y + row_height * 0.62) text-anchor="end" class="label" { (truncate(&bar.label, 30)) }
            @if bar.value.is_finite() && reference.is_some() {
                // Against a reference (an odds ratio's 1, chance's 0.5) the estimate is a
                // point, as in a forest plot: a bar from 1 would read as a quantity.
                circle cx=(x.at(bar.value)) cy=(y + row_height / 2.0) r="5" fill=(PALETTE[0]) {}
            } @else if bar.value.is_finite() {
                @let (from, to) = (x.at(base.min(bar.value)), x.at(base.max(bar.value)));
                rect x=(from) y=(y + 5.0) width=((to - from).max(1.0)) height=(row_height - 10.0) fill=(PALETTE[0]) fill-opacity="0.8" {}
            }
            @if let Some((low, high)) = bar.interval.filter(|(low, high)| low.is_finite() && high.is_finite()) {
                @let mid = y + row_height / 2.0;
                line x1=(x.at(low)) x2=(x.at(high)) y1=(mid) y2=(mid) stroke=(INK) stroke-width="1.5" {}
                line x1=(x.at(low)) x2=(x.at(low)) y1=(mid - 5.0) y2=(mid + 5.0) stroke=(INK) stroke-width="1.5" {}
                line x1=(x.at(high)) x2=(x.at(high)) y1=(mid - 5.0) y2=(mid + 5.0) stroke=(INK) stroke-width="1.5" {}
            }
            text x=(right + 6.0) y=(y + row_height * 0.62) class="value" { (short(bar.value)) "  " (bar.note) }
        }
        line x1=(x.at(base)) x2=(x.at(base)) y1=(top) y2=(height - bottom) stroke=(INK) {}
    };
    frame(id, title, description, height, body)
}

/// One line: its name and points (x label, estimate, interval).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// What the line is.
    pub name: String,
    /// `(x, estimate, lower, upper)`; NaN bounds draw no band there.
    pub points: Vec<(String, f64, f64, f64)>,
}

/// Lines over categorical x (months, weeks) with their interval bands shaded.
pub fn lines(id: &str, title: &str, description: &str, series: &[Series], unit: &str) -> Markup {
    let height = 300.0;
    let (left, right, top, bottom) = (60.0, WIDTH - 20.0, 30.0, 50.0);
    let mut xs: Vec<&str> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0.as_str())).collect();
    xs.sort_unstable();
    xs.dedup();
    let values: Vec<f64> =
        series.iter().flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3])).filter(|value| value.is_finite()).collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.is_empty() || !low.is_finite() {
        return html! { p { "No data." } };
    }
    let y = Scale::new((low, high), (height - bottom, top));
    let step = (right - left) / (xs.len().max(2) - 1) as f64;
    let x_of = |label: &str| left + step * xs.iter().position(|x| *x == label).unwrap_or(0) as f64;
    let every = xs.len().div_ceil(8).max(1);
    let body = html! {
        @for tick in y.ticks(5) {
            line x1=(left) x2=(right) y1=(y.at(tick)) y2=(y.at(tick)) stroke=(GRID) {}
            text x=(left - 6.0) y=(y.at(tick) + 4.0) text-anchor="end" class="tick" { (short(tick)) }
        }
        text x=(left) y=(top - 12.0) class="tick" { (unit) }
        @for (index, label) in xs.iter().enumerate() {
            @if index % every == 0 {
                text x=(x_of(label)) y=(height - bottom + 18.0) text-anchor="middle" class="tick" { (label) }
            }
        }
        @for (index, line) in series.iter().enumerate() {
            @let colour = PALETTE[index % PALETTE.len()];
            @let banded: Vec<&(String, f64, f64, f64)> = line.points.iter().filter(|p| p.2.is_finite() && p.3.is_finite()).collect();
            @if banded.len() > 1 {
                @let upper: Vec<String> = banded.iter().map(|p| format!("{:.1},{:.1}", x_of(&p.0), y.at(p.3))).collect();
                @let lower: Vec<String> = banded.iter().rev().map(|p| format!("{:.1},{:.1}", x_of(&p.0), y.at(p.2))).collect();
                polygon points=(format!("{} {}", upper.join(" "), lower.join(" "))) fill=(colour) fill-opacity="0.15" {}
            }
            @let path: Vec<String> = line.points.iter().filter(|p| p.1.is_finite()).map(|p| format!("{:.1},{:.1}", x_of(&p.0), y.at(p.1))).collect();
            polyline points=(path.join(" ")) fill="none" stroke=(colour) stroke-width="2" stroke-dasharray=(["", "6 3", "2 3", "8 3 2 3"][index % 4]) {}
            @for point in line.points.iter().filter(|p| p.1.is_finite() && line.points.len() <= 60) {
                circle cx=(format!("{:.1}", x_of(&point.0))) cy=(format!("{:.1}", y.at(point.1))) r="2.5" fill=(colour) {}
            }
        }
        @if series.len() > 1 {
            @for (index, line) in series.iter().enumerate() {
                @let x0 = left + 140.0 * index as f64;
                line x1=(x0) x2=(x0 + 24.0) y1=(height - 12.0) y2=(height - 12.0) stroke=(PALETTE[index % PALETTE.len()]) stroke-width="2" stroke-dasharray=(["", "6 3", "2 3", "8 3 2 3"][index % 4]) {}
                text x=(x0 + 30.0) y=(height - 8.0) class="tick" { (line.name) }
            }
        }
    };
    frame(id, title, description, height, body)
}

/// One cell of a heat map.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Row (0 at the top).
    pub row: usize,
    /// Column (0 at the left).
    pub column: usize,
    /// What sets the colour.
    pub value: f64,
    /// The first line of text in the cell.
    pub text: String,
    /// The second line.
    pub detail: String,
    /// Where a click on the cell goes (the dashboard's drill-down), if anywhere.
    pub link: Option<String>,
}

/// A grid of cells shaded by value, labelled by row and column.
pub fn heatmap(id: &str, title: &str, description: &str, rows: &[String], columns: &[String], cells: &[Cell]) -> Markup {
    let (left, top) = (120.0, 40.0);
    let cell_width = (WIDTH - left - 10.0) / columns.len().max(1) as f64;
    let cell_height = 56.0;
    let height = top + cell_height * rows.len().max(1) as f64 + 10.0;
    let high = cells.iter().map(|cell| cell.value).filter(|value| value.is_finite()).fold(0.0, f64::max);
    let body = html! {
        @for (index, name) in columns.iter().enumerate() {
            text x=(left + cell_width * (index as f64 + 0.5)) y=(top - 12.0) text-anchor="middle" class="label" { (name) }
        }
        @for (index, name) in rows.iter().enumerate() {
            text x=(left - 8.0) y=(top + cell_height * (index as f64 + 0.55)) text-anchor="end" class="label" { (name) }
        }
        @for cell in cells {
            @let share = if high > 0.0 && cell.value.is_finite() { cell.value / high } else { 0.0 };
            @let (x, y) = (left + cell_width * cell.column as f64, top + cell_height * cell.row as f64);
            @let ink = if share > 0.55 { "#ffffff" } else { INK };
            @let body = html! {
                rect x=(x + 1.0) y=(y + 1.0) width=(cell_width - 2.0) height=(cell_height - 2.0) fill=(PALETTE[0]) fill-opacity=(format!("{:.3}", 0.06 + 0.94 * share)) stroke=(GRID) {}
                text x=(x + cell_width / 2.0) y=(y + 24.0) text-anchor="middle" fill=(ink) class="cell" { (cell.text) }
                text x=(x + cell_width / 2.0) y=(y + 42.0) text-anchor="middle" fill=(ink) class="cell-detail" { (cell.detail) }
            };
            @if let Some(link) = &cell.link {
                a href=(link) class="cell-link" { (body) }
            } @else {
                (body)
            }
        }
    };
    frame(id, title, description, height, body)
}

/// A histogram of `values` over `bins` equal bins from `low` to `high` (values outside
/// go to the end bins).
pub fn histogram(id: &str, title: &str, description: &str, values: &[f64], (low, high): (f64, f64), bins: usize) -> Markup {
    let height = 240.0;
    let (left, right, top, bottom) = (60.0, WIDTH - 20.0, 20.0, 40.0);
    let mut counts = vec![0u64; bins.max(1)];
    let width = (high - low) / counts.len() as f64;
    for value in values.iter().filter(|value| value.is_finite()) {
        let bin = if width > 0.0 { ((value - low) / width).floor().clamp(0.0, (counts.len() - 1) as f64) as usize } else { 0 };
        counts[bin] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let y = Scale::new((0.0, most), (height - bottom, top));
    let x = Scale::new((low, high), (left, right));
    let bar_width = (right - left) / counts.len() as f64;
    let body = html! {
        @for tick in y.ticks(4) {
            line x1=(left) x2=(right) y1=(y.at(tick)) y2=(y.at(tick)) stroke=(GRID) {}
            text x=(left - 6.0) y=(y.at(tick) + 4.0) text-anchor="end" class="tick" { (short(tick)) }
        }
        @for (index, count) in counts.iter().enumerate() {
            rect x=(left + bar_width * index as f64 + 1.0) y=(y.at(*count as f64)) width=(bar_width - 2.0) height=(y.at(0.0) - y.at(*count as f64)) fill=(PALETTE[0]) fill-opacity="0.8" {}
        }
        @for tick in x.ticks(6) {
            text x=(x.at(tick)) y=(height - bottom + 18.0) text-anchor="middle" class="tick" { (short(tick)) }
        }
    };
    frame(id, title, description, height, body)
}

/// A map: customers' homes binned into hexagons shaded by the value living there, stores
/// as triangles; an equirectangular projection around the data's own centre (no tiles,
/// no outlines fetched). Exact homes are never drawn, only bins.
pub fn hexmap(id: &str, title: &str, description: &str, homes: &[(f64, f64, f64)], stores: &[(String, f64, f64)]) -> Markup {
    let height = 420.0;
    let pad = 20.0;
    let all: Vec<(f64, f64)> = homes.iter().map(|h| (h.0, h.1)).chain(stores.iter().map(|s| (s.1, s.2))).collect();
    if all.is_empty() {
        return html! { p { "No locations." } };
    }
    let (mut south, mut north, mut west, mut east) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
    for (latitude, longitude) in &all {
        south = south.min(*latitude);
        north = north.max(*latitude);
        west = west.min(*longitude);
        east = east.max(*longitude);
    }
    let squeeze = ((south + north) / 2.0).to_radians().cos().max(0.05);
    let span_x = ((east - west) * squeeze).max(1e-6);
    let span_y = (north - south).max(1e-6);
    let scale = ((WIDTH - 2.0 * pad) / span_x).min((height - 2.0 * pad) / span_y);
    let project = |latitude: f64, longitude: f64| {
        (pad + (longitude - west) * squeeze * scale + (WIDTH - 2.0 * pad - span_x * scale) / 2.0, height - pad - (latitude - south) * scale)
    };
    // Pointy-top hexagons of radius r on an axial grid.
    let r = 9.0;
    let (dx, dy) = (3f64.sqrt() * r, 1.5 * r);
    let mut bins: std::collections::BTreeMap<(i64, i64), (u64, f64)> = std::collections::BTreeMap::new();
    for (latitude, longitude, value) in homes {
        let (x, y) = project(*latitude, *longitude);
        let row = (y / dy).round() as i64;
        let offset = if row.rem_euclid(2) == 1 { dx / 2.0 } else { 0.0 };
        let column = ((x - offset) / dx).round() as i64;
        let entry = bins.entry((row, column)).or_default();
        entry.0 += 1;
        entry.1 += if value.is_finite() { *value } else { 0.0 };
    }
    let most = bins.values().map(|bin| bin.1).fold(0.0, f64::max);
    let hexagon = |cx: f64, cy: f64| {
        (0..6)
            .map(|corner| {
                let angle = (60.0 * corner as f64 - 30.0).to_radians();
                format!("{:.1},{:.1}", cx + r * angle.cos(), cy + r * angle.sin())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let body = html! {
        rect x="0" y="0" width=(WIDTH) height=(height) fill="#f6f8fa" {}
        @for ((row, column), (customers, value)) in &bins {
            @let cx = *column as f64 * dx + if row.rem_euclid(2) == 1 { dx / 2.0 } else { 0.0 };
            @let cy = *row as f64 * dy;
            polygon points=(hexagon(cx, cy)) fill=(PALETTE[0]) fill-opacity=(format!("{:.3}", 0.15 + 0.85 * if most > 0.0 { value / most } else { 0.0 })) stroke="#ffffff" stroke-width="0.5" {
                title { (customers) " customers, value " (short(*value)) }
            }
        }
        @for (name, latitude, longitude) in stores {
            @let (x, y) = project(*latitude, *longitude);
            polygon points=(format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", x, y - 7.0, x - 6.0, y + 5.0, x + 6.0, y + 5.0)) fill=(PALETTE[1]) stroke="#ffffff" {
                title { (name) }
            }
        }
    };
    frame(id, title, description, height, body)
}

fn truncate(text: &str, most: usize) -> String {
    if text.chars().count() <= most { text.to_string() } else { format!("{}…", text.chars().take(most - 1).collect::<String>()) }
}

/// Raw markup, for the style sheet.
pub fn raw(text: &str) -> Markup {
    PreEscaped(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_grouped() {
        assert_eq!(short(1234567.8), "1,234,568");
        assert_eq!(short(-12.345), "−12.3");
        assert_eq!(short(0.04321), "0.043");
        assert_eq!(short(f64::NAN), "–");
        assert_eq!(short(0.0), "0");
        assert_eq!(group("-1234.5".into()), "-1,234.5");
    }

    #[test]
    fn ticks_are_round_and_cover_the_domain() {
        let ticks = Scale::new((-3.2, 17.0), (0.0, 1.0)).ticks(5);
        assert_eq!(ticks, [0.0, 5.0, 10.0, 15.0]);
        assert!(Scale::new((0.0, 0.0), (0.0, 1.0)).ticks(4).len() >= 2, "a flat domain still has ticks");
    }

    #[test]
    fn text_from_the_data_is_escaped() {
        let markup = bars("b", "t", "d", &[Bar { label: "<script>".into(), value: 1.0, interval: None, note: String::new() }], None);
        let text = markup.into_string();
        assert!(!text.contains("<script>") && text.contains("&lt;script&gt;"), "{text}");
    }
}
