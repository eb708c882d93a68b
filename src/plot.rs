//! Figures as PNG files: training curves, labelled 2-D scatters and grids of images.
//!
//! Text is drawn with the DejaVu Sans font shipped inside the crate (`assets/fonts`, with its
//! license), so figures look the same on a machine without any system fonts.

use crate::error::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";

/// Ten well-separated colours for class labels (the Tableau 10 palette).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| unreachable!("the bundled font parses"));
    });
}

fn plot_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |problem| Error::Plot {
        path: path.to_path_buf(),
        problem,
    }
}

/// Widens a range that is empty or a single point so that an axis can be drawn.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

/// The axis ranges that hold all `points`, padded.
fn bounds(points: impl Iterator<Item = (f64, f64)> + Clone) -> ((f64, f64), (f64, f64)) {
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        padded(lo, hi)
    };
    (
        range(&mut points.clone().map(|p| p.0)),
        range(&mut points.map(|p| p.1)),
    )
}

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart with labelled axes over `range`: `draw` adds the series (each with a legend
/// entry), then the legend goes at `legend` and the file is written.
fn chart(
    path: &Path,
    size: (u32, u32),
    title: &str,
    (x_label, y_label): (&str, &str),
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
    legend: SeriesLabelPosition,
    draw: impl FnOnce(&mut Chart<'_>) -> std::result::Result<(), String>,
) -> Result<()> {
    ensure_font();
    let fail = plot_error(path);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    draw(&mut chart).map_err(&fail)?;
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

/// A line chart of several named series of (x, y) points, written to `path` (PNG).
///
/// # Errors
/// [`Error::Plot`] if the file cannot be written.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<()> {
    let range = bounds(series.iter().flat_map(|(_, s)| s.iter().copied()));
    chart(
        path,
        (800, 500),
        title,
        (x_label, y_label),
        range,
        SeriesLabelPosition::LowerRight,
        |chart| {
            for (k, (name, s)) in series.iter().enumerate() {
                let color = PALETTE[k % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            Ok(())
        },
    )
}

/// A scatter of 2-D points coloured by class label (0–9 get distinct colours), with a legend.
///
/// # Errors
/// [`Error::Plot`] if the file cannot be written; [`Error::ShapeMismatch`] if there are not as
/// many labels as points.
pub fn labelled_scatter(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    points: &[(f64, f64)],
    labels: &[u8],
) -> Result<()> {
    if points.len() != labels.len() {
        return Err(Error::shape(
            "labels (one per point)",
            (points.len(), 1),
            (labels.len(), 1),
        ));
    }
    let mut classes: Vec<u8> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    chart(
        path,
        (700, 650),
        title,
        axes,
        bounds(points.iter().copied()),
        SeriesLabelPosition::UpperRight,
        |chart| {
            for class in classes {
                let color = PALETTE[class as usize % PALETTE.len()];
                let members = points
                    .iter()
                    .zip(labels)
                    .filter(|(_, l)| **l == class)
                    .map(|(p, _)| *p);
                chart
                    .draw_series(members.map(|p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| e.to_string())?
                    .label(class.to_string())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            }
            Ok(())
        },
    )
}

/// Greyscale images (values in [0, 1], clamped; each `height x width`, row-major) in a grid of
/// `columns` columns under a title.
///
/// # Errors
/// [`Error::Plot`] if the file cannot be written; [`Error::InvalidParameter`] if an image has
/// the wrong number of pixels or `columns` is 0.
pub fn image_grid(
    path: &Path,
    title: &str,
    images: &[Vec<f64>],
    (height, width): (usize, usize),
    columns: usize,
) -> Result<()> {
    if columns == 0 {
        return Err(Error::invalid("grid columns", 0, "at least 1"));
    }
    if let Some(bad) = images.iter().find(|im| im.len() != height * width) {
        return Err(Error::invalid(
            "image pixels",
            bad.len(),
            "height x width pixels per image",
        ));
    }
    ensure_font();
    let fail = plot_error(path);
    // Each pixel is drawn as a square of `cell` screen pixels, with a gap between images.
    let cell = (96 / height.max(width)).max(2) as i32;
    let gap = 6;
    let rows = images.len().div_ceil(columns).max(1);
    let (tile_w, tile_h) = (width as i32 * cell + gap, height as i32 * cell + gap);
    let header = 40;
    let size = (
        (columns as i32 * tile_w + gap).max(300) as u32,
        (rows as i32 * tile_h + gap + header) as u32,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    root.draw(&Text::new(
        title.to_string(),
        (gap, 10),
        (FONT, 20).into_font().color(&BLACK),
    ))
    .map_err(|e| fail(e.to_string()))?;
    for (k, image) in images.iter().enumerate() {
        let (ox, oy) = (
            gap + (k % columns) as i32 * tile_w,
            header + (k / columns) as i32 * tile_h,
        );
        for (p, &v) in image.iter().enumerate() {
            let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
            let (x, y) = (
                ox + (p % width) as i32 * cell,
                oy + (p / width) as i32 * cell,
            );
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                RGBColor(shade, shade, shade).filled(),
            ))
            .map_err(|e| fail(e.to_string()))?;
        }
    }
    root.present().map_err(|e| fail(e.to_string()))
}
