//! The terminal chat client: a prompt on a terminal, plain lines in a pipe,
//! over plain TCP or TLS.
//!
//! One thread reads the socket and prints what the server says; stdin is read
//! by another (pipe mode) or by the line editor on the main thread. Both report
//! to the main thread over a channel, which decides when and how to exit.

// A binary's root lives in src/bin/, so its own modules need an explicit path.
#[path = "client/display.rs"]
mod display;
#[path = "client/incoming.rs"]
mod incoming;
#[path = "client/interactive.rs"]
mod interactive;
#[path = "client/link.rs"]
mod link;
#[path = "client/plain.rs"]
mod plain;
#[path = "client/session.rs"]
mod session;
#[path = "client/tls.rs"]
mod tls;
#[path = "client/wire.rs"]
mod wire;

use std::io::{self, IsTerminal, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rustls::pki_types::ServerName;

use link::Link;
use tls::Trust;

const AFTER_HELP: &str = "\
With a terminal on both stdin and stdout the client shows a prompt with line
history and prints server lines above it. Otherwise it reads lines from stdin,
sends each one, and prints every server line to stdout as it arrives, so scripts
can drive it.

Input ends on stdin EOF, Ctrl-D, or after sending /quit. The connection is then
left open (no half-close, which a server may take for a hang-up) and the
client keeps printing server output until the server closes or --linger passes,
whichever is first, then exits 0. If the server closes the connection earlier,
the client exits 0 at once (at a prompt, when Enter is pressed, so the terminal
is restored). Ctrl-C at the prompt exits at once.

The server ends every TLS session with close_notify. A TLS connection that
closes without it may have been cut short by someone on the way, so the client
says the connection was truncated and exits 1.

With --tls the client speaks TLS (to the server's --tls-port) and checks that
the server's certificate is valid for --host (a name, or an IP address) and
leads to one of the system's root certificates, or with --ca FILE to one of the
certificates in FILE only. --insecure checks no certificate at all and says so
on stderr. --ca and --insecure each imply --tls; they cannot be combined.

Exit status: 0 on a normal end (including a closed stdout), 1 if the server
cannot be reached, its certificate is refused, or the connection fails or is
truncated; 2 for bad arguments.";

/// Connects to a shardchat server and chats line by line.
#[derive(Debug, Parser)]
#[command(name = "client", version, after_help = AFTER_HELP)]
struct Args {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Server TCP port (with TLS, the server's --tls-port).
    #[arg(long, default_value_t = 9090)]
    port: u16,

    /// Connect with TLS, verifying the server against the system's roots.
    #[arg(long)]
    tls: bool,

    /// Trust only the CA certificates in this PEM file (implies --tls).
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,

    /// Use TLS without verifying the server's certificate, so anyone on the
    /// way can read and change the chat; for test servers only (implies --tls).
    #[arg(long)]
    insecure: bool,

    /// Send `/nick NAME` right after connecting.
    #[arg(long, value_name = "NAME", value_parser = parse_nick)]
    nick: Option<String>,

    /// How long to wait for the server to close after input ends, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_linger)]
    linger: Duration,
}

fn parse_nick(s: &str) -> Result<String, String> {
    // A space or newline would smuggle a second word or a second command onto
    // the wire, so refuse it here rather than let the server guess.
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a nick must be non-empty, without spaces or control characters".into());
    }
    Ok(s.to_owned())
}

fn parse_linger(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // If stderr is gone too there is nobody left to tell.
            let _ = writeln!(io::stderr(), "client: {err:#}");
            ExitCode::FAILURE
        }
    }
}

impl Args {
    /// How the server is to be checked, or `None` for plain TCP.
    fn trust(&self) -> Option<Trust> {
        if self.insecure {
            Some(Trust::Anyone)
        } else if let Some(ca) = &self.ca {
            Some(Trust::CaFile(ca.clone()))
        } else if self.tls {
            Some(Trust::System)
        } else {
            None
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    // Everything that can be wrong locally (a bad --ca file, a host that is
    // no TLS name) is reported before touching the network.
    let tls = match args.trust() {
        Some(trust) => {
            if let Trust::Anyone = trust {
                let _ = writeln!(
                    io::stderr(),
                    "client: WARNING: --insecure: the server's certificate is not verified; \
                     anyone on the way can read and change this chat"
                );
            }
            let config = tls::client_config(&trust)?;
            let name = ServerName::try_from(args.host.clone())
                .with_context(|| format!("--host {}: not a valid TLS server name", args.host))?;
            Some((config, name))
        }
        None => None,
    };

    let stream = TcpStream::connect((args.host.as_str(), args.port))
        .with_context(|| format!("cannot connect to {}:{}", args.host, args.port))?;
    // Lines are typed one at a time; Nagle would only add latency to each.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let link = match tls {
        Some((config, name)) => Link::tls(stream, config, name)
            .with_context(|| format!("TLS handshake with {}:{} failed", args.host, args.port))?,
        None => Link::Plain(stream),
    };
    if let Some(nick) = &args.nick {
        wire::send_line(&link, format!("/nick {nick}").as_bytes()).context("sending /nick")?;
    }

    let stdout_is_tty = io::stdout().is_terminal();
    if io::stdin().is_terminal() && stdout_is_tty {
        match interactive::Prompt::new() {
            Ok(prompt) => return prompt.run(link, args.linger),
            // A terminal the editor cannot drive (TERM=dumb, say) still
            // works line by line; only the tidy prompt is lost.
            Err(err) => {
                let _ = writeln!(
                    io::stderr(),
                    "client: line editing unavailable ({err}); reading plain lines"
                );
            }
        }
    }
    plain::run(link, args.linger, stdout_is_tty)
}
