//! The chat server binary: loads flags and the --config file (or only
//! checks them, with --check-config), binds, prints the listening line
//! and runs until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::thread;

use shardchat::config::LoadError;
use shardchat::sys;
use shardchat::{Config, Server};

fn main() -> ExitCode {
    let config = match Config::load(std::env::args_os()) {
        Ok(c) => c,
        Err(LoadError::Usage(e)) => e.exit(),
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.check_config {
        return match config.check() {
            Ok(()) => {
                println!("configuration OK: {}", config.origin());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // glibc's default, kept fixed: see `pin_mmap_threshold`.
    sys::pin_mmap_threshold(128 * 1024);
    if let Err(e) = sys::raise_fd_limit() {
        eprintln!("[Server] cannot raise the open-files limit: {e}");
    }
    // Blocked here, before any thread exists, so only the waiter below
    // receives them.
    if let Err(e) = sys::block_termination_signals() {
        eprintln!("[Server] cannot set up signal handling: {e}");
        return ExitCode::FAILURE;
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
    shardchat::log::flush(std::time::Duration::from_secs(2));
    code
}
