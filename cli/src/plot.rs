//! The `--plot` pictures: shares against expectation (`dist`), the movement matrix (`diff`).
//!
//! Text needs a TrueType font, read at run time: `RINGROUTE_FONT` if set, else a common system
//! font (DejaVu Sans, Liberation Sans, Arial).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};
use ringroute::{distribution, Snapshot};

use crate::fail::Failure;

/// Where fonts usually are.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font as `sans-serif` (once).
fn font() -> Result<(), Failure> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<String> = std::env::var("RINGROUTE_FONT")
            .into_iter()
            .chain(FONTS.iter().map(|s| s.to_string()))
            .collect();
        for path in &candidates {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(
            "--plot needs a TrueType font: install DejaVu Sans (fonts-dejavu-core) or set \
             RINGROUTE_FONT to a .ttf file"
                .to_owned(),
        )
    })
    .clone()
    .map_err(Failure::msg)
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::msg(format!("{}: cannot draw the plot: {e}", path.display()))
}

/// At most this many nodes are labelled on an axis; larger rings are drawn without names.
const LABELLED: usize = 40;

/// The name of segment `v` of an axis of `names` (reversed: the first name at the top).
fn seg_label(names: &[String], v: &SegmentValue<u32>, reversed: bool) -> String {
    match v {
        SegmentValue::CenterOf(i) if names.len() <= LABELLED => {
            let i = *i as usize;
            let i = if reversed {
                names.len().wrapping_sub(1 + i)
            } else {
                i
            };
            names.get(i).cloned().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// `dist --plot`: each node's exact share (bar) against its expected share (black mark).
pub fn shares(snap: &Snapshot, path: &Path) -> Result<(), Failure> {
    font()?;
    let d = distribution(snap);
    let names: Vec<String> = snap.nodes().map(|n| n.name().to_owned()).collect();
    let n = d.nodes.len().max(1) as u32;
    let top = d
        .nodes
        .iter()
        .map(|s| s.share.max(s.expected))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 112.0;
    let width = (200 + 40 * n).clamp(640, 1600);
    let root = BitMapBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let caption = format!(
        "share per node (bars) vs weight (marks), imbalance {:.4}",
        d.weighted_imbalance()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("share of the key space (%)")
        .x_labels(n as usize)
        .x_label_formatter(&|v| seg_label(&names, v, false))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    let bars = d.nodes.iter().enumerate().map(|(i, s)| {
        let over = s.expected > 0.0 && s.share > s.expected;
        let color = if over {
            RGBColor(214, 96, 77)
        } else {
            RGBColor(67, 147, 195)
        };
        let i = i as u32;
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), s.share * 100.0),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 8, 8);
        bar
    });
    chart.draw_series(bars).map_err(|e| draw_err(path, e))?;
    let thick = top * 0.004;
    let marks = d.nodes.iter().enumerate().map(|(i, s)| {
        let (i, y) = (i as u32, s.expected * 100.0);
        let mut mark = Rectangle::new(
            [
                (SegmentValue::Exact(i), y - thick),
                (SegmentValue::Exact(i + 1), y + thick),
            ],
            BLACK.filled(),
        );
        mark.set_margin(0, 0, 3, 3);
        mark
    });
    chart.draw_series(marks).map_err(|e| draw_err(path, e))?;
    root.present().map_err(|e| draw_err(path, e))
}

/// `diff --plot`: the from (rows, before) -> to (columns, after) movement matrix as a heat map;
/// what stays with its node is not drawn.
/// `rows`, `cols` and `cells` are the movement matrix (`diff::matrix`), `moved` the share that
/// changes owner.
pub fn movement(
    rows: &[String],
    cols: &[String],
    cells: &[Vec<f64>],
    moved: f64,
    path: &Path,
) -> Result<(), Failure> {
    font()?;
    let (nr, nc) = (rows.len().max(1), cols.len().max(1));
    let max = cells
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-12);
    let side = (200 + 60 * nr.max(nc) as u32).clamp(480, 1400);
    let root = BitMapBackend::new(path, (side + 100, side)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let caption = format!("keys moved, from -> to: {:.4}% in all", moved * 100.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(100)
        .build_cartesian_2d(
            (0..nc as u32 - 1).into_segmented(),
            (0..nr as u32 - 1).into_segmented(),
        )
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("to (after)")
        .y_desc("from (before)")
        .x_labels(nc)
        .y_labels(nr)
        .x_label_formatter(&|v| seg_label(cols, v, false))
        .y_label_formatter(&|v| seg_label(rows, v, true))
        .draw()
        .map_err(|e| draw_err(path, e))?;
    let cell = |r: usize, c: usize| {
        let y = (nr - 1 - r) as u32;
        let c = c as u32;
        [
            (SegmentValue::Exact(c), SegmentValue::Exact(y)),
            (SegmentValue::Exact(c + 1), SegmentValue::Exact(y + 1)),
        ]
    };
    let heat = cells.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(c, &v)| {
            let t = v / max;
            // White (nothing moves) to dark red (the largest flow).
            let color = RGBColor(
                255 - (t * 90.0) as u8,
                255 - (t * 215.0) as u8,
                255 - (t * 215.0) as u8,
            );
            let mut rect = Rectangle::new(cell(r, c), color.filled());
            rect.set_margin(1, 1, 1, 1);
            rect
        })
    });
    chart.draw_series(heat).map_err(|e| draw_err(path, e))?;
    if nr.max(nc) <= 12 {
        let style = ("sans-serif", 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let texts = cells.iter().enumerate().flat_map(|(r, row)| {
            let style = style.clone();
            row.iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(move |(c, &v)| {
                    let y = (nr - 1 - r) as u32;
                    Text::new(
                        format!("{:.2}%", v * 100.0),
                        (SegmentValue::CenterOf(c as u32), SegmentValue::CenterOf(y)),
                        style.clone(),
                    )
                })
        });
        chart.draw_series(texts).map_err(|e| draw_err(path, e))?;
    }
    root.present().map_err(|e| draw_err(path, e))
}
