//! SIGHUP reloads what can change without dropping anyone: limits, the
//! MOTD, operators and the TLS certificate. A bad new file is logged and
//! the old settings stay.

use std::path::PathBuf;
use std::process::Command;

use crate::irc::Irc;
use crate::tls::TlsConn;
use crate::util::{server_with, valid_cert, Backend, CertFiles, TestServer, SERVER_BIN};

/// A directory for one test's files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "shardchat-reload-{}-{tag}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a test file");
        path.to_str().expect("utf-8 path").to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the server with its stderr joined to stdout, so that the
/// test sees its warnings (a failed reload) among the log lines.
fn start(b: Backend, args: &[&str]) -> TestServer {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exec \"$0\" \"$@\" 2>&1", SERVER_BIN]);
    server_with(b, args, cmd)
}

/// Sends SIGHUP and waits until the reload is done.
fn reload(s: &TestServer) {
    s.signal("HUP");
    s.wait_log("[Server] reloaded the configuration");
}

fn settings(max_line: u32, oper_pw: &str, motd: &str) -> String {
    format!("max-line = {max_line}\noper = [\"alice:{oper_pw}\"]\nmotd = \"{motd}\"\n")
}

fn limits_motd_and_operators_change_for_everyone_connected(b: Backend) {
    let dir = Dir::new("limits");
    let motd1 = dir.write("motd1", "first message of the day\n");
    let motd2 = dir.write("motd2", "second message of the day\n");
    let file = dir.write("shardchat.toml", &settings(40, "one-password", &motd1));
    let s = start(
        b,
        &[
            "--config",
            &file,
            "--irc-port",
            "0",
            "--server-name",
            "irc.test",
            "--network",
            "TestNet",
            "--notice-limit",
            "0",
        ],
    );
    let irc_addr = crate::ws_util::addr_after(&s, "[CHAT SERVER] IRC on ");
    let (mut talker, nick) = s.connect();
    let (mut listener, _) = s.connect();
    let long = "x".repeat(60);
    talker.send(&long);
    talker.expect("! line too long (max 40 bytes)");
    let mut irc = Irc::register(irc_addr, "opsy");
    irc.send("MOTD");
    irc.until(":irc.test 372 opsy :- first message of the day");

    dir.write("shardchat.toml", &settings(100, "two-password", &motd2));
    reload(&s);

    // The connected clients live under the new limits at once.
    talker.send(&long);
    listener.expect(&format!("[{nick}] {long}"));
    irc.send("MOTD");
    irc.until(":irc.test 372 opsy :- second message of the day");
    irc.send("OPER alice one-password");
    irc.until(":irc.test 464 opsy :Password incorrect");
    irc.send("OPER alice two-password");
    irc.until(":irc.test 381 opsy :You are now an IRC operator");
}

fn a_new_certificate_reaches_new_tls_clients_and_spares_connected_ones(b: Backend) {
    let (old, new) = (valid_cert("reload-old"), valid_cert("reload-new"));
    let dir = Dir::new("tls");
    let file = dir.write("shardchat.toml", &cert_settings(&old));
    let s = start(
        b,
        &["--config", &file, "--tls-port", "0", "--notice-limit", "0"],
    );
    let tls_addr = s.tls_addr.expect("a TLS port");
    let mut before = TlsConn::open(tls_addr, &old.der);
    before.welcome();

    dir.write("shardchat.toml", &cert_settings(&new));
    reload(&s);

    // A newcomer is answered with the new certificate: it cannot verify
    // with the old one, and it can with the new.
    let mut trusting_old = TlsConn::open(tls_addr, &old.der);
    assert!(
        trusting_old.try_line().is_err(),
        "the old certificate is no longer served"
    );
    let mut after = TlsConn::open(tls_addr, &new.der);
    let nick = after.welcome();
    // The connection made before the reload carries on.
    after.send("after the swap");
    assert_eq!(before.line(), format!("[{nick}] after the swap"));
}

fn cert_settings(c: &CertFiles) -> String {
    format!(
        "tls-cert = \"{}\"\ntls-key = \"{}\"\n",
        c.cert.display(),
        c.key.display()
    )
}

fn a_bad_file_keeps_the_old_settings(b: Backend) {
    let good = valid_cert("reload-good");
    let dir = Dir::new("bad");
    let file = dir.write(
        "shardchat.toml",
        &format!("{}max-line = 40\n", cert_settings(&good)),
    );
    let s = start(
        b,
        &["--config", &file, "--tls-port", "0", "--notice-limit", "0"],
    );
    let tls_addr = s.tls_addr.expect("a TLS port");
    let (mut c, _) = s.connect();

    // Not TOML at all.
    dir.write("shardchat.toml", "max-line = = 100\n");
    s.signal("HUP");
    s.wait_log("reload failed, the old settings stay");
    // A certificate file that holds no certificate, with a new limit: the
    // limit is not applied either.
    let broken = dir.write("broken.pem", "not a certificate\n");
    dir.write(
        "shardchat.toml",
        &format!(
            "tls-cert = \"{broken}\"\ntls-key = \"{}\"\nmax-line = 100\n",
            good.key.display()
        ),
    );
    s.signal("HUP");
    s.wait_log("reload failed, the old settings stay");

    c.send(&"y".repeat(60));
    c.expect("! line too long (max 40 bytes)");
    let mut tls = TlsConn::open(tls_addr, &good.der);
    tls.welcome();
    s.assert_running();
}

both_backends!(
    limits_motd_and_operators_change_for_everyone_connected,
    a_new_certificate_reaches_new_tls_clients_and_spares_connected_ones,
    a_bad_file_keeps_the_old_settings,
);
