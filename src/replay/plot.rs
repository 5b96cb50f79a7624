//! `replay --plot`: anger against time, the transfer threshold, and the
//! moment and reason of a transfer, as SVG or PNG.

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use crate::callcore::{CallEvent, EventKind};
use crate::engine::{Action, Input};

#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw the plot: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

/// Draws the call's anger timeline; the file extension picks SVG or PNG.
pub fn plot_anger(
    log: &[CallEvent],
    threshold: f32,
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let fail = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    let size = (900, 420);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let drawn = match extension.as_str() {
        "svg" => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            log,
            threshold,
            title,
        ),
        "png" => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            log,
            threshold,
            title,
        ),
        _ => return Err(fail("the plot file must end in .svg or .png".into())),
    };
    drawn.map_err(fail)
}

fn draw<B: DrawingBackend>(
    area: DrawingArea<B, plotters::coord::Shift>,
    log: &[CallEvent],
    threshold: f32,
    title: &str,
) -> Result<(), String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    area.fill(&WHITE).map_err(|e| error(&e))?;
    let scores: Vec<(f64, f64)> = log
        .iter()
        .filter_map(|entry| match entry.kind {
            EventKind::Heard(Input::Anger { score }) => Some((seconds(entry.at), f64::from(score))),
            _ => None,
        })
        .collect();
    let end = log.last().map_or(1.0, |entry| seconds(entry.at)).max(1.0);
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..end, 0.0..100.0)
        .map_err(|e| error(&e))?;
    chart
        .configure_mesh()
        .x_desc("call time (s)")
        .y_desc("anger (0-100)")
        .draw()
        .map_err(|e| error(&e))?;
    let limit = f64::from(threshold);
    chart
        .draw_series(LineSeries::new(
            [(0.0, limit), (end, limit)],
            RED.stroke_width(1),
        ))
        .map_err(|e| error(&e))?
        .label(format!("transfer threshold {threshold}"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .draw_series(LineSeries::new(
            scores.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| error(&e))?
        .label("anger (smoothed)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    if let Some((at, reason)) = transfer(log) {
        let x = seconds(at);
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, 100.0)],
                BLACK.stroke_width(2),
            ))
            .map_err(|e| error(&e))?
            .label(format!("transfer at {x:.1} s ({reason})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| error(&e))?;
    area.present().map_err(|e| error(&e))
}

fn seconds(at: Duration) -> f64 {
    at.as_secs_f64()
}

fn transfer(log: &[CallEvent]) -> Option<(Duration, String)> {
    log.iter().find_map(|entry| match &entry.kind {
        EventKind::Did(Action::Transfer(transfer)) => Some((entry.at, transfer.reason.to_string())),
        _ => None,
    })
}
