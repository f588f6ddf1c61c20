//! The chat server binary: parses flags, sets up the log, binds, prints the
//! listening line and runs until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::thread;

use clap::Parser;
use shardchat::{log, sys};
use shardchat::{Config, Server};

fn main() -> ExitCode {
    let config = Config::parse();
    // glibc's default, kept fixed: see `pin_mmap_threshold`.
    sys::pin_mmap_threshold(128 * 1024);
    // Blocked here, before any thread exists, so only the waiter below
    // receives them.
    if let Err(e) = sys::block_termination_signals() {
        eprintln!("[Server] cannot set up signal handling: {e}");
        return ExitCode::FAILURE;
    }
    // Held to the end of `main`: dropping it writes the queued lines.
    let _log = match log::init(config.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            // A usage error, like a bad flag.
            eprintln!("server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = sys::raise_fd_limit() {
        shardchat::warn!("[Server] cannot raise the open-files limit: {e}");
    }
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::FAILURE;
        }
    };
    for line in server.banner() {
        println!("{line}");
    }
    let handle = server.handle();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = sys::wait_termination() {
                shardchat::info!("[Server] {sig:?} received, shutting down");
                handle.shutdown();
            }
        })
        .expect("spawning the signal thread");
    let result = server.run();
    let code = match result {
        Ok(s) => {
            shardchat::info!(
                "[Server] stopped ({} connections served, {} lines, {} slow consumers dropped)",
                s.accepted,
                s.lines_in,
                s.slow_consumers
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            shardchat::warn!("server: {e}");
            ExitCode::FAILURE
        }
    };
    let dropped = log::dropped_lines();
    if dropped > 0 {
        shardchat::warn!("[Server] {dropped} log lines dropped: output was not keeping up");
    }
    code
}
