//! loadgen: opens thousands of chat clients against a shardchat server
//! (plain or TLS, in one room or many), sends chat lines on a fixed
//! schedule, and measures every delivery; or does the same over IRC or
//! WebSocket, or Redis or NATS pub/sub, for comparison.
//!
//! ```text
//! cargo run --release -p loadgen -- --clients 5000 --senders 50 --rate 5000 --size 64 --duration 30s
//! cargo run --release -p loadgen -- plot results/a.hgrm results/b.hgrm -o compare.svg
//! cargo run --release -p loadgen -- compare --quick --out /tmp/compare
//! cargo run --release -p loadgen -- scaling --label epoll a.json b.json --label poll c.json d.json -o p99.svg
//! ```
//!
//! Exits 0 when the run was clean, 1 when a line was lost, duplicated,
//! reordered or delivered into another room, a connection failed, or the
//! server rate-limited the senders.

mod cli;
mod client;
mod compare;
mod conn;
mod irc;
mod latency;
mod lines;
mod machine;
mod nats;
mod order;
mod outbound;
mod output;
mod payload;
mod plot;
mod procfs;
mod progress;
mod protocol;
mod report;
mod resp;
mod run;
mod scaling;
mod schedule;
mod shared;
mod tls;
mod wire;
mod worker;
mod ws;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Plot(args)) => {
            output::plot_files(&args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Compare(args)) => return compare::run(&args),
        Some(Command::Scaling(args)) => {
            scaling::run(&args)?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let cfg = cli.run.into_config()?;
    let out = cfg.out.clone();
    let outcome = run::run(cfg)?;
    let written = output::write_run(&out, &outcome)?;

    let mut stdout = std::io::stdout().lock();
    let mut text = outcome.summary.render();
    for path in &written {
        text.push_str(&format!("wrote {}\n", path.display()));
    }
    // A closed pipe (e.g. `| head`) is a normal way to stop reading.
    match stdout.write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if outcome.summary.verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
