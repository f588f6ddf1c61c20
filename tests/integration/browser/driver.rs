//! A small DevTools-protocol driver for headless Chromium: Chromium's
//! `--remote-debugging-pipe` speaks the protocol as NUL-terminated JSON on
//! descriptors 3 (commands in) and 4 (answers and events out), so no
//! WebSocket client is needed, only `serde_json`. Waits are polls of the
//! page's DOM, run inside the page by one awaited promise with a deadline,
//! never sleeps here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use serde_json::{json, Value};

use crate::util::TIMEOUT;

/// A headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    to: ChildStdin,
    from: Receiver<Value>,
    next_id: u64,
    /// Events seen so far (every message without an `id`).
    pub events: Vec<Value>,
    profile: std::path::PathBuf,
}

/// One tab, attached with its own DevTools session.
pub struct Page {
    session: String,
}

impl Browser {
    /// Starts Chromium, or returns `None` (the test then passes, saying
    /// why on stderr) when it is not installed and not required.
    pub fn launch() -> Option<Browser> {
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
    pub fn call(&mut self, page: Option<&Page>, method: &str, params: Value) -> Value {
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
                .unwrap_or_else(|e| match e {
                    mpsc::RecvTimeoutError::Timeout => panic!("chromium did not answer {method}"),
                    mpsc::RecvTimeoutError::Disconnected => {
                        panic!("chromium exited before answering {method}")
                    }
                });
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
    pub fn open(&mut self, url: &str) -> Page {
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
    pub fn eval(&mut self, page: &Page, expr: &str) -> Value {
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
    pub fn wait(&mut self, page: &Page, cond: &str) {
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
    pub fn type_text(&mut self, page: &Page, text: &str) {
        self.call(Some(page), "Input.insertText", json!({"text": text}));
    }

    /// Presses a key (`Enter`, `ArrowUp`) in the focused field.
    pub fn press(&mut self, page: &Page, key: &str) {
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
    pub fn say(&mut self, page: &Page, line: &str) {
        self.eval(page, "$('input').focus()");
        self.type_text(page, line);
        self.press(page, "Enter");
        self.wait(page, "$('input').value === ''");
    }

    /// Logs in as `nick` and waits until the page is in `#lobby`.
    pub fn log_in(&mut self, page: &Page, nick: &str) {
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
    pub fn screenshot(&mut self, page: &Page, path: &std::path::Path) {
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
