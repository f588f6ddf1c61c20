//! Latency-by-percentile charts as SVG: the usual HdrHistogram picture, with
//! percentiles on a log "nines" axis (90%, 99%, 99.9%, ...) so the tail gets
//! as much room as the median.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use crate::latency::HgrmRow;

/// One curve: a name for the legend and its `.hgrm` rows.
pub struct Curve {
    pub name: String,
    pub rows: Vec<HgrmRow>,
}

/// Line colours, in the order series are drawn (shared by every plot).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Where a percentile sits on the nines axis: 1 / (1 - p).
fn nines(percentile: f64) -> Option<f64> {
    (percentile < 1.0).then(|| 1.0 / (1.0 - percentile))
}

/// Labels 1, 10, 100, ... as 0%, 90%, 99%, ...
fn nines_label(x: &f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as usize).saturating_sub(2);
    format!("{p:.digits$}%")
}

/// Draws every curve into one SVG at `path`.
pub fn draw(curves: &[Curve], title: &str, path: &Path) -> Result<()> {
    let points: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|c| {
            c.rows
                .iter()
                .filter_map(|r| nines(r.percentile).map(|x| (x, r.value_ms)))
                .collect()
        })
        .collect();
    let x_top = points
        .iter()
        .flatten()
        .map(|&(x, _)| x)
        .fold(100.0_f64, f64::max);
    let x_max = 10f64.powf(x_top.log10().ceil());
    let y_max = curves
        .iter()
        .flat_map(|c| c.rows.iter().map(|r| r.value_ms))
        .fold(0.0_f64, f64::max)
        .max(0.001)
        * 1.05;

    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((1.0..x_max).log_scale(), 0.0..y_max)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Percentile")
        .y_desc("Latency (ms)")
        .x_label_formatter(&nines_label)
        .draw()
        .map_err(plot_err)?;
    for (i, (curve, pts)) in curves.iter().zip(points).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let max = curve.rows.last().map_or(0.0, |r| r.value_ms);
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(plot_err)?
            .label(format!("{} (max {max:.3} ms)", curve.name))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    root.present()
        .map_err(plot_err)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A drawing error as an anyhow error (plotters' errors are generic).
pub(crate) fn plot_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_the_nines() {
        assert_eq!(nines_label(&1.0), "0%");
        assert_eq!(nines_label(&10.0), "90%");
        assert_eq!(nines_label(&100.0), "99%");
        assert_eq!(nines_label(&1000.0), "99.9%");
        assert_eq!(nines_label(&100_000.0), "99.999%");
    }

    #[test]
    fn draws_an_svg() {
        let rows = |scale: f64| {
            vec![
                HgrmRow {
                    value_ms: 0.1 * scale,
                    percentile: 0.0,
                    total_count: 1,
                },
                HgrmRow {
                    value_ms: 0.5 * scale,
                    percentile: 0.5,
                    total_count: 50,
                },
                HgrmRow {
                    value_ms: 2.0 * scale,
                    percentile: 0.99,
                    total_count: 99,
                },
                HgrmRow {
                    value_ms: 3.0 * scale,
                    percentile: 1.0,
                    total_count: 100,
                },
            ]
        };
        let dir = std::env::temp_dir().join(format!("loadgen-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.svg");
        let curves = [
            Curve {
                name: "a".into(),
                rows: rows(1.0),
            },
            Curve {
                name: "b".into(),
                rows: rows(2.0),
            },
        ];
        draw(&curves, "test", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("99%"));
        assert!(svg.contains("a (max 3.000 ms)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
