//! Charts as geometry: the report pages draw them as inline SVG from
//! these numbers in their templates (so every label is escaped like any
//! other text, and nothing runs in the browser: the CSP stays strict).
//! Each shape carries its tooltip (an SVG `<title>`), and every chart has
//! the same numbers as a table beside it.

/// One horizontal bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    /// Where the bar is drawn (viewBox units).
    pub y: u32,
    pub width: u32,
    pub tooltip: String,
}

/// Horizontal bars, largest first as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub bars: Vec<Bar>,
    pub height: u32,
}

/// Left margin for labels and the room the longest bar may take.
pub const BAR_LABEL: u32 = 140;
pub const BAR_ROOM: u32 = 300;
const BAR_STEP: u32 = 26;

pub fn bars(rows: &[(String, i64)], tooltip: impl Fn(&str, i64) -> String) -> Bars {
    let max = rows.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (label, value))| Bar {
            label: label.clone(),
            value: *value,
            y: i as u32 * BAR_STEP,
            width: ((*value as f64 / max as f64) * BAR_ROOM as f64).round() as u32,
            tooltip: tooltip(label, *value),
        })
        .collect::<Vec<_>>();
    Bars { height: (bars.len() as u32 * BAR_STEP).max(BAR_STEP), bars }
}

/// One day of a time series: a column for one count, a point for another.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub tooltip: String,
}

/// Columns (e.g. conversations created per day) with a line over them
/// (e.g. resolved per day), on one scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub columns: Vec<Column>,
    /// `points` of an SVG polyline.
    pub line: String,
    pub column_width: u32,
    pub max: i64,
    /// A few x-axis labels: (x, text).
    pub ticks: Vec<(u32, String)>,
}

pub const SERIES_WIDTH: u32 = 640;
pub const SERIES_HEIGHT: u32 = 160;

pub fn series(days: &[(String, i64, i64)], tooltip: impl Fn(&str, i64, i64) -> String) -> Series {
    let n = days.len().max(1) as u32;
    let step = SERIES_WIDTH / n;
    let column_width = step.saturating_sub(2).max(1);
    let max = days.iter().map(|(_, a, b)| (*a).max(*b)).max().unwrap_or(0).max(1);
    let scale = |v: i64| ((v as f64 / max as f64) * SERIES_HEIGHT as f64).round() as u32;
    let columns = days
        .iter()
        .enumerate()
        .map(|(i, (date, a, b))| {
            let height = scale(*a);
            Column { x: i as u32 * step, y: SERIES_HEIGHT - height, height, tooltip: tooltip(date, *a, *b) }
        })
        .collect();
    let line = days
        .iter()
        .enumerate()
        .map(|(i, (_, _, b))| format!("{},{}", i as u32 * step + step / 2, SERIES_HEIGHT - scale(*b)))
        .collect::<Vec<_>>()
        .join(" ");
    let every = (days.len() / 6).max(1);
    let ticks =
        days.iter().enumerate().filter(|(i, _)| i % every == 0).map(|(i, (date, _, _))| (i as u32 * step, date[5..].to_owned())).collect();
    Series { columns, line, column_width, max, ticks }
}

/// One hour of the week.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub x: u32,
    pub y: u32,
    /// 0.0–1.0 of the busiest hour (drawn as the cell's opacity).
    pub intensity: String,
    pub value: i64,
    pub tooltip: String,
}

pub const CELL: u32 = 22;

/// A week of hours: 7 rows (Monday first) × 24 columns.
pub fn heat_map(counts: &[i64; 168], tooltip: impl Fn(usize, usize, i64) -> String) -> Vec<Cell> {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    (0..168)
        .map(|h| {
            let (day, hour) = (h / 24, h % 24);
            let v = counts[h];
            Cell {
                x: hour as u32 * CELL,
                y: day as u32 * CELL,
                intensity: format!("{:.2}", if v == 0 { 0.04 } else { 0.15 + 0.85 * v as f64 / max as f64 }),
                value: v,
                tooltip: tooltip(day, hour, v),
            }
        })
        .collect()
}

/// A node of a flow diagram (a channel, on the left or the right).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub label: String,
    pub y: u32,
    pub height: u32,
    pub value: i64,
}

/// A band from a left node to a right node.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// An SVG path's `d`.
    pub path: String,
    pub width: u32,
    pub tooltip: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub left: Vec<Node>,
    pub right: Vec<Node>,
    pub links: Vec<Link>,
    pub height: u32,
}

pub const FLOW_WIDTH: u32 = 520;
const FLOW_NODE: u32 = 12;
const FLOW_GAP: u32 = 10;
const FLOW_ROOM: u32 = 220;

/// From `(from, to, count)` triples: which channel customers wrote on
/// first, and which one a person answered on.
pub fn flow(pairs: &[(String, String, i64)], tooltip: impl Fn(&str, &str, i64) -> String) -> Flow {
    let total: i64 = pairs.iter().map(|p| p.2).sum::<i64>().max(1);
    let unit = |v: i64| ((v as f64 / total as f64) * FLOW_ROOM as f64).round().max(2.0) as u32;
    let column = |pick: &dyn Fn(&(String, String, i64)) -> &String| {
        let mut sums: Vec<(String, i64)> = Vec::new();
        for p in pairs {
            match sums.iter_mut().find(|(l, _)| l == pick(p)) {
                Some((_, n)) => *n += p.2,
                None => sums.push((pick(p).clone(), p.2)),
            }
        }
        sums.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut y = 0;
        sums.into_iter()
            .map(|(label, value)| {
                let node = Node { label, y, height: unit(value), value };
                y += node.height + FLOW_GAP;
                node
            })
            .collect::<Vec<_>>()
    };
    let left = column(&|p| &p.0);
    let right = column(&|p| &p.1);
    let mut used_left: Vec<u32> = vec![0; left.len()];
    let mut used_right: Vec<u32> = vec![0; right.len()];
    let (x0, x1) = (FLOW_NODE, FLOW_WIDTH - FLOW_NODE);
    let links = pairs
        .iter()
        .filter_map(|(a, b, n)| {
            let li = left.iter().position(|x| x.label == *a)?;
            let ri = right.iter().position(|x| x.label == *b)?;
            let width = unit(*n);
            let y0 = left[li].y + used_left[li] + width / 2;
            let y1 = right[ri].y + used_right[ri] + width / 2;
            used_left[li] += width;
            used_right[ri] += width;
            let mid = (x0 + x1) / 2;
            Some(Link { path: format!("M{x0},{y0} C{mid},{y0} {mid},{y1} {x1},{y1}"), width, tooltip: tooltip(a, b, *n) })
        })
        .collect();
    let height = left.iter().chain(right.iter()).map(|n| n.y + n.height).max().unwrap_or(0).max(20);
    Flow { left, right, links, height }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest() {
        let b = bars(&[("sms".into(), 10), ("email".into(), 5)], |l, v| format!("{l}: {v}"));
        assert_eq!((b.bars[0].width, b.bars[1].width), (BAR_ROOM, BAR_ROOM / 2));
        assert_eq!(b.bars[1].tooltip, "email: 5");
        assert_eq!(b.height, 52);
        // Nothing to show is not a division by zero.
        assert_eq!(bars(&[("x".into(), 0)], |_, _| String::new()).bars[0].width, 0);
    }

    #[test]
    fn series_and_heat_map_place_their_shapes() {
        let s = series(&[("2026-03-01".into(), 4, 2), ("2026-03-02".into(), 2, 4)], |d, a, b| format!("{d} {a} {b}"));
        assert_eq!((s.columns[0].height, s.columns[1].height), (SERIES_HEIGHT, SERIES_HEIGHT / 2));
        assert_eq!(s.line, format!("{},{} {},{}", 160, SERIES_HEIGHT / 2, 480, 0));
        assert_eq!(s.ticks[0].1, "03-01");
        let mut counts = [0; 168];
        counts[24 + 9] = 4;
        let cells = heat_map(&counts, |d, h, v| format!("{d} {h} {v}"));
        assert_eq!((cells[33].x, cells[33].y, cells[33].intensity.as_str()), (9 * CELL, CELL, "1.00"));
    }

    #[test]
    fn flow_bands_leave_and_arrive_at_their_channels() {
        let f = flow(&[("email".into(), "whatsapp".into(), 3), ("email".into(), "email".into(), 1)], |a, b, n| format!("{a}→{b} {n}"));
        assert_eq!(f.left.len(), 1);
        assert_eq!(f.right.iter().map(|n| n.label.as_str()).collect::<Vec<_>>(), ["whatsapp", "email"]);
        assert_eq!(f.links.len(), 2);
        assert!(f.links[0].path.starts_with(&format!("M{FLOW_NODE},")));
        assert_eq!(f.links[0].tooltip, "email→whatsapp 3");
    }
}
