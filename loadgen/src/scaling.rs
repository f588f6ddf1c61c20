//! `loadgen scaling`: p99 latency against connected clients, one line per
//! labelled series of runs, read back from the runs' JSON files (the
//! `config.clients` and `latency_ms.p99` figures), drawn as SVG with both
//! axes logarithmic, and printed as a table.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;

use crate::cli::ScalingArgs;
use crate::plot::{plot_err, PALETTE};

/// One labelled line of the chart: (clients, p99 ms) sorted by clients.
#[derive(Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(u64, f64)>,
}

pub fn run(args: &ScalingArgs) -> Result<()> {
    let groups = group(&args.series.0)?;
    let mut series = Vec::new();
    for (label, files) in groups {
        let mut points = files
            .iter()
            .map(|f| point_of(f))
            .collect::<Result<Vec<_>>>()?;
        points.sort_by_key(|&(clients, _)| clients);
        series.push(Series { label, points });
    }
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    draw(&series, &args.title, &args.output)?;
    print!("{}", table(&series));
    println!("wrote {}", args.output.display());
    Ok(())
}

/// Turns each `--label NAME FILE...` into a name and its files.
fn group(series: &[Vec<String>]) -> Result<Vec<(String, Vec<PathBuf>)>> {
    series
        .iter()
        .map(|s| match s.split_first() {
            Some((name, files)) if !files.is_empty() => {
                Ok((name.clone(), files.iter().map(PathBuf::from).collect()))
            }
            _ => bail!("--label needs a name and at least one JSON file"),
        })
        .collect()
}

/// Reads (clients, p99 ms) from a run's JSON.
fn point_of(path: &Path) -> Result<(u64, f64)> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    point_from_json(&text).with_context(|| format!("{}", path.display()))
}

fn point_from_json(text: &str) -> Result<(u64, f64)> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let clients = v["config"]["clients"]
        .as_u64()
        .ok_or_else(|| anyhow!("no config.clients"))?;
    let p99 = v["latency_ms"]["p99"]
        .as_f64()
        .ok_or_else(|| anyhow!("no latency_ms.p99 (an idle run?)"))?;
    Ok((clients, p99))
}

/// A Markdown table: one row per client count, one column per series.
fn table(series: &[Series]) -> String {
    let mut clients: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|&(c, _)| c))
        .collect();
    clients.sort_unstable();
    clients.dedup();
    let mut out = String::from("| clients |");
    for s in series {
        out.push_str(&format!(" {} p99 ms |", s.label));
    }
    out.push_str("\n| ---: |");
    out.push_str(&" ---: |".repeat(series.len()));
    out.push('\n');
    for c in clients {
        out.push_str(&format!("| {c} |"));
        for s in series {
            match s.points.iter().find(|&&(pc, _)| pc == c) {
                Some(&(_, p99)) => out.push_str(&format!(" {p99:.3} |")),
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

fn draw(series: &[Series], title: &str, path: &Path) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_min = all().map(|&(c, _)| c as f64).fold(f64::INFINITY, f64::min);
    let x_max = all().map(|&(c, _)| c as f64).fold(1.0, f64::max);
    let y_min = all().map(|&(_, p)| p).fold(f64::INFINITY, f64::min);
    let y_max = all().map(|&(_, p)| p).fold(0.001, f64::max);
    // Whole decades around the data, so the log axes read cleanly.
    let decade_below = |v: f64| 10f64.powf(v.max(0.001).log10().floor());
    let decade_above = |v: f64| 10f64.powf(v.log10().ceil());
    let (x_lo, x_hi) = (decade_below(x_min), decade_above(x_max * 1.01));
    let (y_lo, y_hi) = (decade_below(y_min), decade_above(y_max * 1.01));

    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Connected clients")
        .y_desc("p99 latency (ms)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(plot_err)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(c, p)| (c as f64, p)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(plot_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn groups_files_under_their_label() {
        let g = group(&[strings(&["epoll", "a", "b"]), strings(&["poll", "c"])]).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, "epoll");
        assert_eq!(g[0].1, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(g[1].1, [PathBuf::from("c")]);
        assert!(group(&[strings(&["x"])]).is_err());
    }

    #[test]
    fn reads_clients_and_p99() {
        let json = r#"{"config": {"clients": 500}, "latency_ms": {"p50": 0.5, "p99": 2.25}}"#;
        assert_eq!(point_from_json(json).unwrap(), (500, 2.25));
        let idle = r#"{"config": {"clients": 500}, "latency_ms": null}"#;
        assert!(point_from_json(idle).is_err());
    }

    #[test]
    fn draws_and_tabulates() {
        let series = [
            Series {
                label: "epoll".into(),
                points: vec![(100, 0.8), (1000, 1.5), (10_000, 6.0)],
            },
            Series {
                label: "poll".into(),
                points: vec![(100, 0.9), (10_000, 120.0)],
            },
        ];
        let t = table(&series);
        assert!(t.contains("| 1000 | 1.500 | - |"), "{t}");
        assert!(t.contains("| 10000 | 6.000 | 120.000 |"), "{t}");
        let dir = std::env::temp_dir().join(format!("loadgen-scaling-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.svg");
        draw(&series, "test", &path).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("epoll") && svg.contains("poll"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
