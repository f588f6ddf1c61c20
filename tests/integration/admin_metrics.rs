//! `/metrics` over real sockets: `promtool check metrics` accepts it
//! (skipped without promtool unless `REQUIRE_PROMTOOL=1`), its counters
//! move as clients come, chat and go, cluster and storage state show,
//! and every metric the Grafana dashboard queries is in a real scrape.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::admin::{admin_server, exchange, get};
use crate::cluster::Redis;
use crate::util::{Backend, TIMEOUT};

/// A scrape in the Prometheus text format.
fn scrape(admin: SocketAddr) -> String {
    let r = get(admin, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.body
}

/// The value of one sample (`name` or `name{labels}` exactly as
/// exposed); panics if absent.
fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .parse()
        .expect("a number")
}

/// The sum of every series of `name` (any labels).
fn sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Scrapes until `ok` holds (counters are read, not waited on: nothing
/// tells a client when a close was counted).
fn until(admin: SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let body = scrape(admin);
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "never saw {what} in\n{body}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs `promtool check metrics` on `body`; `None` if promtool is not
/// installed (and not required).
fn promtool(body: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("REQUIRE_PROMTOOL").as_deref() == Ok("1") => {
            panic!("REQUIRE_PROMTOOL=1 but promtool cannot run: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: promtool is not available ({e}); install the prometheus package or set REQUIRE_PROMTOOL=1");
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("promtool stdin");
    stdin.write_all(body.as_bytes()).expect("feed promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool's verdict");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text))
}

fn promtool_accepts_the_scrape(b: Backend) {
    let (s, admin) = admin_server(b, &["--threads", "2", "--notice-limit", "0"]);
    let mut c = s.named(&["ann", "ben"]);
    c[0].send("some traffic first");
    c[1].expect("[ann] some traffic first");
    let body = scrape(admin);
    if let Some((ok, problems)) = promtool(&body) {
        assert!(
            ok && problems.trim().is_empty(),
            "promtool: {problems}\n{body}"
        );
    }
    // OpenMetrics for a scraper that asks for it (Prometheus does).
    let om = exchange(
        admin,
        b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
    );
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
}

fn counters_move_as_clients_come_chat_and_go(b: Backend) {
    let (s, admin) = admin_server(b, &["--threads", "2"]);
    let before = scrape(admin);
    let accepted = r#"shardchat_connections_accepted_total{protocol="line"}"#;
    let quit = r#"shardchat_connections_closed_total{reason="quit"}"#;
    let hangup = r#"shardchat_connections_closed_total{reason="hangup"}"#;
    assert_eq!(value(&before, accepted), 0.0);
    assert_eq!(value(&before, "shardchat_ready"), 1.0);
    let (mut a, na) = s.connect();
    let (mut b2, nb) = s.connect();
    let (mut c, nc) = s.connect();
    a.read_until(&format!("* {nc} joined #lobby"));
    b2.read_until(&format!("* {nc} joined #lobby"));
    a.send("hello all");
    b2.expect(&format!("[{na}] hello all"));
    c.expect(&format!("[{na}] hello all"));
    let during = scrape(admin);
    assert_eq!(value(&during, accepted), 3.0);
    assert_eq!(sum(&during, "shardchat_connections"), 3.0);
    assert!(value(&during, "shardchat_lines_received_total") >= 1.0);
    // Two deliveries of the chat line, plus the welcome and join lines.
    assert!(
        value(&during, "shardchat_deliveries_total") >= 2.0,
        "{during}"
    );
    assert!(value(&during, "shardchat_written_bytes_total") > 0.0);
    assert!(value(&during, "shardchat_read_bytes_total") >= 10.0);
    assert!(sum(&during, "shardchat_pass_duration_seconds_count") > 0.0);

    // One says goodbye, one just goes.
    a.send("/quit");
    a.expect("* bye");
    a.expect_closed();
    let after_quit = until(admin, "the quit counted", |m| value(m, quit) == 1.0);
    assert_eq!(value(&after_quit, hangup), 0.0);
    // Read to the end first: unread input would make the close a reset.
    b2.read_until(&format!("* {na} left #lobby"));
    drop(b2);
    c.read_until(&format!("* {nb} left #lobby"));
    let after = until(admin, "the hangup counted", |m| value(m, hangup) == 1.0);
    assert_eq!(sum(&after, "shardchat_connections"), 1.0);
    assert!(
        value(&after, "shardchat_deliveries_total") > value(&during, "shardchat_deliveries_total")
    );
}

fn a_cluster_node_cut_off_from_redis_is_not_ready(b: Backend) {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let (_s, admin) = admin_server(b, &["--cluster", &url]);
    let r = get(admin, "/readyz");
    assert_eq!((r.status, r.body.as_str()), (503, "cluster bridge down\n"));
    let m = scrape(admin);
    assert_eq!(value(&m, "shardchat_cluster_up"), 0.0);
    assert_eq!(value(&m, "shardchat_store_up"), 0.0);
    assert_eq!(value(&m, "shardchat_ready"), 0.0);
    assert_eq!(get(admin, "/healthz").status, 200, "alive all the same");
    let v = get(admin, "/varz").json();
    assert_eq!(v["not_ready_because"], "cluster bridge down");
    assert_eq!(v["settings"]["cluster"], url.as_str());
}

fn cluster_counters_move_with_redis(b: Backend) {
    let Some(redis) = Redis::start() else { return };
    let (s, admin) = admin_server(b, &["--cluster", &redis.url(), "--notice-limit", "0"]);
    until(admin, "the cluster up", |m| {
        value(m, "shardchat_cluster_up") == 1.0 && value(m, "shardchat_store_up") == 1.0
    });
    assert_eq!(get(admin, "/readyz").status, 200);
    let mut c = s.named(&["ann", "ben"]);
    redis.await_subscribers("lobby", 1);
    let before = scrape(admin);
    c[0].send("across the cluster");
    c[1].expect("[ann] across the cluster");
    let published = "shardchat_cluster_published_messages_total";
    let received = "shardchat_cluster_received_messages_total";
    let after = until(admin, "a publish and its echo", |m| {
        value(m, published) > value(&before, published)
            && value(m, received) > value(&before, received)
    });
    assert!(
        value(&after, "shardchat_cluster_published_bytes_total")
            > value(&before, "shardchat_cluster_published_bytes_total")
    );
    assert!(
        value(&after, "shardchat_cluster_received_bytes_total")
            > value(&before, "shardchat_cluster_received_bytes_total")
    );
    assert_eq!(get(admin, "/varz").json()["store"]["backend"], "redis");
}

/// The metric names a PromQL expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("shardchat_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every `expr` in a dashboard (panels may nest in rows).
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("expr", Some(e)) => out.push(e.to_string()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

fn the_dashboard_queries_only_metrics_that_exist(b: Backend) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/shardchat.json");
    let text = std::fs::read_to_string(path).expect("read the dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["panels"].as_array().is_some_and(|p| p.len() >= 10));
    assert!(text.contains("${DS_PROMETHEUS}"), "a datasource input");
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    let wanted: BTreeSet<String> = all.iter().flat_map(|e| metric_names(e)).collect();
    assert!(wanted.len() >= 15, "{wanted:?}");
    // A cluster node (its Redis away: the cluster metrics show all the same).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let (_s, admin) = admin_server(b, &["--cluster", &url]);
    let body = scrape(admin);
    let exposed: BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| !exposed.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, not in\n{body}"
    );
}

both_backends!(
    promtool_accepts_the_scrape,
    counters_move_as_clients_come_chat_and_go,
    a_cluster_node_cut_off_from_redis_is_not_ready,
    cluster_counters_move_with_redis,
    the_dashboard_queries_only_metrics_that_exist,
);
