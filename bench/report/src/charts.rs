//! The two charts of the page, as SVG: latency against offered fan-out rate, and server
//! memory per connection against connections.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::results::{median, Error, ResultSet, SERVERS};

/// The chart files written, relative to the charts directory.
pub struct Charts {
    pub latency: Option<PathBuf>,
    pub memory: Option<PathBuf>,
}

const OURS: RGBColor = RGBColor(79, 70, 229);
const PEER: RGBColor = RGBColor(217, 119, 6);

fn colour(server: &str) -> RGBColor {
    if server == "ours" {
        OURS
    } else {
        PEER
    }
}

fn label(server: &str) -> &'static str {
    if server == "ours" {
        "this server"
    } else {
        "Node.js ws peer"
    }
}

/// Per measured fan-out step, over the repetitions: (offered deliveries/s, median p99 ms).
pub fn fanout_points(set: &ResultSet, server: &str) -> Vec<(f64, f64)> {
    let reports = set.reports("fanout", server);
    let steps = reports
        .iter()
        .map(|r| r.steps.iter().filter(|s| !s.warmup).count())
        .max()
        .unwrap_or(0);
    (0..steps)
        .filter_map(|i| {
            let picked: Vec<_> = reports
                .iter()
                .filter_map(|r| r.steps.iter().filter(|s| !s.warmup).nth(i))
                .collect();
            let offered = median(picked.iter().map(|s| s.rate * s.receivers as f64).collect())?;
            let p99 = median(
                picked
                    .iter()
                    .map(|s| s.latency_us.p99_us as f64 / 1000.0)
                    .collect(),
            )?;
            Some((offered, p99))
        })
        .collect()
}

/// Per idle size: (connections, median server bytes per connection).
pub fn idle_points(set: &ResultSet, server: &str) -> Vec<(f64, f64)> {
    set.idle_sizes()
        .into_iter()
        .filter_map(|(n, name)| {
            let per = median(
                set.reports(&name, server)
                    .iter()
                    .filter_map(|r| r.idle.as_ref())
                    .map(|i| i.rss_per_connection_bytes as f64)
                    .collect(),
            )?;
            Some((n as f64, per))
        })
        .collect()
}

pub fn draw(set: &ResultSet, dir: &Path) -> Result<Charts, Error> {
    let latency = line_chart(
        &dir.join("fanout-latency.svg"),
        "Fan-out: p99 latency against offered load (1000 clients)",
        "offered deliveries per second",
        "p99 latency (ms)",
        &SERVERS.map(|s| (s, fanout_points(set, s))),
    )?;
    let memory = line_chart(
        &dir.join("idle-memory.svg"),
        "Idle sockets: server memory per connection",
        "connected sockets",
        "resident bytes per connection",
        &SERVERS.map(|s| (s, idle_points(set, s))),
    )?;
    Ok(Charts {
        latency: latency.then(|| PathBuf::from("fanout-latency.svg")),
        memory: memory.then(|| PathBuf::from("idle-memory.svg")),
    })
}

/// Draws one line per server; `false` when there is nothing to draw.
fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<bool, Error> {
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if points.is_empty() {
        return Ok(false);
    }
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let chart_err = |e: &dyn std::fmt::Display| Error::Chart(e.to_string());

    let root = SVGBackend::new(path, (860, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..x_max.max(1.0), 0.0..y_max.max(1.0))
        .map_err(|e| chart_err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 240))
        .draw()
        .map_err(|e| chart_err(&e))?;
    for (server, line) in series {
        let colour = colour(server);
        chart
            .draw_series(LineSeries::new(
                line.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| chart_err(&e))?
            .label(label(server))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart
            .draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(|e| chart_err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 210))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| chart_err(&e))?;
    root.present().map_err(|e| chart_err(&e))?;
    Ok(true)
}
