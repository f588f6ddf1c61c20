//! The built-in chat page in a real browser: headless Chromium (Debian's
//! `chromium`) driven over the DevTools protocol, against the real server.
//!
//! The driver is small and local: Chromium's `--remote-debugging-pipe`
//! speaks the protocol as NUL-terminated JSON on descriptors 3 (commands
//! in) and 4 (answers and events out), so no WebSocket client is needed,
//! only `serde_json`. Waits are polls of the page's DOM, run inside the
//! page by one awaited promise with a deadline, never sleeps here.
//!
//! Skipped, with a message, when `chromium` is not installed, unless
//! `REQUIRE_BROWSER=1` (as `.ci/run` sets).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::thread;

use serde_json::{json, Value};

use crate::util::{server, Backend, TestServer, TIMEOUT};

both_backends!(
    pages_and_line_client_chat,
    page_joins_a_second_room,
    markup_renders_as_text,
    page_reconnects_after_restart,
);

/// One Chromium at a time: the machine is small, and pages of two tests
/// competing for it would only make timeouts likelier.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// A headless Chromium, killed on drop.
struct Browser {
    child: Child,
    to: ChildStdin,
    from: Receiver<Value>,
    next_id: u64,
    /// Events seen so far (every message without an `id`).
    events: Vec<Value>,
    profile: std::path::PathBuf,
}

/// One tab, attached with its own DevTools session.
struct Page {
    session: String,
}

impl Browser {
    /// Starts Chromium, or returns `None` (the test then passes, saying
    /// why on stderr) when it is not installed and not required.
    fn launch() -> Option<Browser> {
        let exe = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let found = Command::new(&exe)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
                "REQUIRE_BROWSER=1 but {exe} is not installed (apt-get install chromium)"
            );
            eprintln!("skipped: {exe} is not installed (apt-get install chromium)");
            return None;
        }
        let profile = std::env::temp_dir().join(format!(
            "shardchat-chromium-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        // The shell moves our pipes to descriptors 3 and 4, where
        // --remote-debugging-pipe expects them. Root needs --no-sandbox.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null 2>/dev/null"#)
            .arg(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--disable-gpu",
                "--disable-extensions",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--window-size=900,560",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let to = child.stdin.take().expect("chromium's command pipe");
        let out = child.stdout.take().expect("chromium's answer pipe");
        let (tx, from) = mpsc::channel();
        thread::spawn(move || {
            for msg in BufReader::new(out).split(0).map_while(Result::ok) {
                if let Ok(v) = serde_json::from_slice(&msg) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Some(Browser {
            child,
            to,
            from,
            next_id: 0,
            events: Vec::new(),
            profile,
        })
    }

    /// Sends one command (to a tab's session, or the browser) and waits for
    /// its answer, keeping the events that arrive meanwhile.
    fn call(&mut self, page: Option<&Page>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(p) = page {
            msg["sessionId"] = json!(p.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("a JSON command");
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let v = self
                .from
                .recv_timeout(TIMEOUT * 2)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            // A dialog would block the page (and this call) for good.
            if v["method"] == json!("Page.javascriptDialogOpening") {
                panic!("the page opened a dialog: {}", v["params"]["message"]);
            }
            self.events.push(v);
        }
    }

    /// Opens a tab at `url` and waits until its page has loaded.
    fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let page = Page {
            session: attached["sessionId"].as_str().expect("a session").into(),
        };
        // Page events include javascriptDialogOpening, which the XSS test
        // checks never happens.
        self.call(Some(&page), "Page.enable", json!({}));
        self.call(Some(&page), "Page.navigate", json!({"url": url}));
        self.wait(
            &page,
            "document.readyState === 'complete' && !!$('nick-input')",
        );
        page
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, page: &Page, expr: &str) -> Value {
        let r = self.call(
            Some(page),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expr} threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `cond` (JavaScript) is true in the page: the page
    /// re-checks it every 20 ms, up to the test timeout.
    fn wait(&mut self, page: &Page, cond: &str) {
        let ms = TIMEOUT.as_millis();
        let poll = format!(
            "new Promise((done) => {{ const end = Date.now() + {ms};
               const check = () => {{ let ok = false; try {{ ok = !!({cond}); }} catch (e) {{}}
                 if (ok || Date.now() > end) done(ok); else setTimeout(check, 20); }};
               check(); }})"
        );
        if self.eval(page, &poll) != json!(true) {
            let state = self.eval(
                page,
                "document.body.dataset.state + ' | ' + document.body.innerText",
            );
            panic!("timed out waiting for {cond}; page shows: {state}");
        }
    }

    /// Types `text` into the focused field, as keystrokes would.
    fn type_text(&mut self, page: &Page, text: &str) {
        self.call(Some(page), "Input.insertText", json!({"text": text}));
    }

    /// Presses a key (`Enter`, `ArrowUp`) in the focused field.
    fn press(&mut self, page: &Page, key: &str) {
        let (code, text) = match key {
            "Enter" => (13, "\r"),
            "ArrowUp" => (38, ""),
            other => panic!("no key code for {other}"),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut ev =
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code});
            if kind == "keyDown" && !text.is_empty() {
                ev["text"] = json!(text);
            }
            self.call(Some(page), "Input.dispatchKeyEvent", ev);
        }
    }

    /// Types a line into the message field and presses Enter.
    fn say(&mut self, page: &Page, line: &str) {
        self.eval(page, "$('input').focus()");
        self.type_text(page, line);
        self.press(page, "Enter");
        self.wait(page, "$('input').value === ''");
    }

    /// Logs in as `nick` and waits until the page is in `#lobby`.
    fn log_in(&mut self, page: &Page, nick: &str) {
        self.eval(page, "$('nick-input').focus()");
        self.type_text(page, nick);
        self.press(page, "Enter");
        self.wait(
            page,
            &format!(
                "document.body.dataset.me === '{nick}' && $('room-title').textContent === '#lobby'"
            ),
        );
    }

    /// Saves a PNG screenshot of the page.
    fn screenshot(&mut self, page: &Page, path: &std::path::Path) {
        let shot = self.call(
            Some(page),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        );
        let png = base64(shot["data"].as_str().expect("screenshot data"));
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Decodes standard base64 (the screenshot's encoding).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A JavaScript string literal of `s`.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("a JSON string")
}

/// A JavaScript condition: the buffer `room` shows a line of `kind` whose
/// text is `text` (and, when given, whose sender is `from`).
fn shows(room: &str, kind: &str, from: Option<&str>, text: &str) -> String {
    let from = from.map_or(String::new(), |f| {
        format!(" && li.dataset.from === {}", js(f))
    });
    format!(
        "Array.from(document.querySelectorAll('ol[data-buffer=' + JSON.stringify({room}) + '] li'))
           .some((li) => li.dataset.kind === {kind}{from}
                         && li.querySelector('.text').textContent === {text})",
        room = js(room),
        kind = js(kind),
        text = js(text),
    )
}

/// The server with its HTTP listener; returns it and the HTTP address.
fn web_server(b: Backend, port: u16) -> (TestServer, SocketAddr) {
    let port = port.to_string();
    let s = server(b, &["--http-port", &port]);
    let line = s.wait_log("[CHAT SERVER] HTTP on ");
    let addr = line
        .strip_prefix("[CHAT SERVER] HTTP on ")
        .and_then(|r| r.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("HTTP line: {line:?}"));
    (s, addr)
}

/// Two pages and an `nc`-style client in `#lobby`: each sees the others'
/// lines, actions and the members; Up recalls the last line; a private
/// message opens a conversation. Saves the screenshot for the README.
fn pages_and_line_client_chat(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    let url = format!("http://{http}/");
    let (ann, bob) = (br.open(&url), br.open(&url));
    br.log_in(&ann, "ann");
    br.log_in(&bob, "bob");
    let mut cy = srv.connect_as("cy");

    br.say(&ann, "hello from the browser");
    br.wait(
        &bob,
        &shows("#lobby", "msg", Some("ann"), "hello from the browser"),
    );
    cy.read_until("[ann] hello from the browser");

    cy.send("hi, this is nc");
    br.wait(&ann, &shows("#lobby", "msg", Some("cy"), "hi, this is nc"));
    br.wait(&bob, &shows("#lobby", "msg", Some("cy"), "hi, this is nc"));

    br.say(&bob, "/me waves at both of you");
    br.wait(
        &ann,
        &shows("#lobby", "action", Some("bob"), "waves at both of you"),
    );
    br.say(&bob, "nice to see a page and nc in one room");
    cy.read_until("[bob] nice to see a page and nc in one room");
    // echo-message: a page sees its own line once, as the server sent it.
    br.wait(
        &bob,
        &shows(
            "#lobby",
            "msg",
            Some("bob"),
            "nice to see a page and nc in one room",
        ),
    );

    for nick in ["ann", "bob", "cy"] {
        let member = format!("!!document.querySelector('#member-list li[data-nick={nick}]')");
        br.wait(&ann, &member);
    }

    // Up brings back the line sent last.
    br.eval(&bob, "$('input').focus()");
    br.press(&bob, "ArrowUp");
    br.wait(
        &bob,
        "$('input').value === 'nice to see a page and nc in one room'",
    );
    br.eval(&bob, "$('input').value = ''");

    br.say(&bob, "/msg ann psst, this one is just for you");
    br.wait(
        &ann,
        &shows("bob", "msg", Some("bob"), "psst, this one is just for you"),
    );
    br.wait(
        &ann,
        "$('room-list').querySelector('li[data-room=bob] .unread').textContent === '1'",
    );

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-client.png");
    br.screenshot(&ann, &shot);
    // `WEB_CLIENT_PNG=docs/web-client.png` refreshes the README's picture.
    if let Ok(to) = std::env::var("WEB_CLIENT_PNG") {
        if b == Backend::Epoll {
            std::fs::copy(&shot, to).expect("copy the screenshot");
        }
    }
    drop(srv);
}

/// `/join #second` opens a second room beside `#lobby`; lines there reach
/// the page, and lines in the room not shown count as unread.
fn page_joins_a_second_room(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    let ann = br.open(&format!("http://{http}/"));
    br.log_in(&ann, "ann");
    let mut cy = srv.connect_as("cy");
    let mut dee = srv.connect_as("dee");

    br.say(&ann, "/join #second");
    br.wait(&ann, "$('room-title').textContent === '#second'");
    br.wait(
        &ann,
        "document.querySelectorAll('#room-list li').length === 2",
    );
    dee.send("/join #second");
    br.wait(
        &ann,
        &shows("#second", "join", None, "→ dee joined #second"),
    );
    br.wait(
        &ann,
        "!!document.querySelector('#member-list li[data-nick=dee]')",
    );

    dee.send("over here in the second room");
    br.wait(
        &ann,
        &shows(
            "#second",
            "msg",
            Some("dee"),
            "over here in the second room",
        ),
    );
    cy.send("meanwhile in the lobby");
    br.wait(
        &ann,
        &shows("#lobby", "msg", Some("cy"), "meanwhile in the lobby"),
    );
    br.wait(
        &ann,
        "$('room-list').querySelector('li[data-room=\"#lobby\"] .unread').textContent === '1'",
    );

    br.say(&ann, "a line for the second room");
    dee.read_until("[ann] a line for the second room");
    // Switching rooms shows the lobby and clears its unread count.
    br.eval(
        &ann,
        "$('room-list').querySelector('button[data-room=\"#lobby\"]').click()",
    );
    br.wait(&ann, "$('room-title').textContent === '#lobby'");
    br.wait(
        &ann,
        "$('room-list').querySelector('li[data-room=\"#lobby\"] .unread').textContent === ''",
    );
    br.say(&ann, "/part #second");
    br.wait(
        &ann,
        "document.querySelectorAll('#room-list li').length === 1",
    );

    // On a phone-sized screen the lists fold away behind two buttons.
    let phone = json!({"width": 390, "height": 700, "deviceScaleFactor": 1, "mobile": true});
    br.call(Some(&ann), "Emulation.setDeviceMetricsOverride", phone);
    let shown = |id: &str| format!("getComputedStyle($('{id}')).display !== 'none'");
    br.wait(
        &ann,
        &format!("!({}) && !({})", shown("rooms"), shown("members")),
    );
    br.wait(
        &ann,
        &format!("{} && {}", shown("toggle-rooms"), shown("input")),
    );
    br.eval(&ann, "$('toggle-members').click()");
    br.wait(&ann, &shown("members"));
    br.wait(
        &ann,
        "$('toggle-members').getAttribute('aria-expanded') === 'true'",
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-client-phone.png");
    br.screenshot(&ann, &shot);
}

/// Markup from other users is shown as the characters they typed: no
/// element is created and no script runs.
fn markup_renders_as_text(b: Backend) {
    const XSS: &str = "<img src=x onerror=alert(1)>";
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    let url = format!("http://{http}/");
    let (ann, bob) = (br.open(&url), br.open(&url));
    br.log_in(&ann, "ann");
    br.log_in(&bob, "bob");
    let mut cy = srv.connect_as("cy");

    cy.send(XSS);
    br.say(&bob, XSS);
    br.say(&bob, &format!("/me {XSS}"));
    // ann, first in the room, is its operator and may set the topic.
    br.say(&ann, &format!("/topic {XSS}"));
    br.wait(&ann, &shows("#lobby", "msg", Some("cy"), XSS));
    br.wait(&ann, &shows("#lobby", "msg", Some("bob"), XSS));
    br.wait(&ann, &shows("#lobby", "action", Some("bob"), XSS));
    br.wait(&bob, &format!("$('topic').textContent === {}", js(XSS)));
    for page in [&ann, &bob] {
        let imgs = br.eval(page, "document.querySelectorAll('img').length");
        assert_eq!(imgs, json!(0), "an img element was created");
    }
    let dialogs = br
        .events
        .iter()
        .filter(|e| e["method"] == json!("Page.javascriptDialogOpening"))
        .count();
    assert_eq!(dialogs, 0, "a dialog opened");
    drop(srv);
}

/// The server goes away and comes back on the same port: the page says so,
/// reconnects on its own, rejoins its rooms and chats again.
fn page_reconnects_after_restart(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    let ann = br.open(&format!("http://{http}/"));
    br.log_in(&ann, "ann");
    br.say(&ann, "/join #second");
    br.wait(&ann, "$('room-title').textContent === '#second'");

    drop(srv); // kills the server and waits for it
    br.wait(&ann, "document.body.dataset.state !== 'online'");
    br.wait(&ann, "/reconnecting/i.test($('status').textContent)");

    let (srv, _) = web_server(b, http.port());
    br.wait(
        &ann,
        "document.body.dataset.state === 'online' && document.body.dataset.me === 'ann'",
    );
    let mut cy = srv.connect_as("cy");
    cy.send("/join #second");
    br.wait(&ann, &shows("#second", "join", None, "→ cy joined #second"));
    br.say(&ann, "back again");
    cy.read_until("[ann] back again");
}
