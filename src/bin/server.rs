//! The chat server binary: loads flags and the --config file (or only
//! checks them, with --check-config), sets up the log, binds, prints the
//! listening line and runs until SIGINT or SIGTERM; SIGHUP reloads,
//! SIGUSR2 drains.

use std::process::ExitCode;
use std::thread;

use shardchat::config::LoadError;
use shardchat::log;
use shardchat::server::ServerHandle;
use shardchat::sys::{self, Signal};
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
    let server = match Server::bind(config.clone()) {
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
        .spawn(move || on_signals(&handle, &config))
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

/// Handles signals until one stops the server: SIGINT and SIGTERM stop it
/// at once, SIGUSR2 drains it over `--drain-duration` (a later SIGINT or
/// SIGTERM cuts the drain short), SIGHUP reloads.
fn on_signals(handle: &ServerHandle, config: &Config) {
    while let Ok(sig) = sys::wait_termination() {
        match sig {
            Signal::Hangup => {
                shardchat::info!("[Server] SIGHUP received, reloading");
                let _ = handle.reload(config.reload());
            }
            Signal::User2 => {
                shardchat::info!("[Server] SIGUSR2 received, draining");
                handle.drain(config.drain_duration);
            }
            Signal::Interrupt | Signal::Terminate => {
                shardchat::info!("[Server] {sig:?} received, shutting down");
                handle.shutdown();
                return;
            }
        }
    }
}
