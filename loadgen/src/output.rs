//! Writes a run's files under `--out`: `<label>.json` (config, machine and
//! every figure), `<label>.hgrm` (percentile distribution) and
//! `<label>.svg` (its chart); and the overlay chart of `loadgen plot`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::PlotArgs;
use crate::latency;
use crate::plot::{self, Curve};
use crate::run::Outcome;

/// Writes the files for `outcome`; returns their paths. Idle runs have no
/// latency, so only their JSON is written.
pub fn write_run(out: &Path, outcome: &Outcome) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let label = &outcome.summary.label;
    let mut written = Vec::new();

    let json = out.join(format!("{label}.json"));
    let text = serde_json::to_string_pretty(&outcome.summary)?;
    fs::write(&json, text + "\n").with_context(|| format!("writing {}", json.display()))?;
    written.push(json);

    if outcome.summary.latency_ms.is_some() {
        let hgrm = out.join(format!("{label}.hgrm"));
        let text = latency::to_hgrm(&outcome.histogram);
        fs::write(&hgrm, &text).with_context(|| format!("writing {}", hgrm.display()))?;
        written.push(hgrm);

        if !outcome.histogram.is_empty() {
            let svg = out.join(format!("{label}.svg"));
            let rows = latency::parse_hgrm(&text).context("reading back the .hgrm")?;
            let curve = Curve {
                name: label.clone(),
                rows,
            };
            plot::draw(&[curve], &format!("Latency by percentile: {label}"), &svg)?;
            written.push(svg);
        }
    }
    Ok(written)
}

/// `loadgen plot`: overlays the given `.hgrm` files.
pub fn plot_files(args: &PlotArgs) -> Result<()> {
    let mut curves = Vec::new();
    for path in &args.files {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let rows = latency::parse_hgrm(&text).with_context(|| format!("{}", path.display()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        curves.push(Curve { name, rows });
    }
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    plot::draw(&curves, &args.title, &args.output)?;
    println!("wrote {}", args.output.display());
    Ok(())
}
