//! The built-in chat page in a real browser: headless Chromium (Debian's
//! `chromium`) driven over the DevTools protocol, against the real server.
//!
//! The driver, in `browser/driver.rs`, talks to Chromium over two pipes;
//! the room-history tests are in `browser/history.rs`, the account ones
//! in `browser/login.rs`.
//!
//! Skipped, with a message, when `chromium` is not installed, unless
//! `REQUIRE_BROWSER=1` (as `.ci/run` sets).

mod driver;
mod history;
mod login;

use std::net::SocketAddr;
use std::sync::Mutex;

use serde_json::json;

use crate::util::{server, Backend, TestServer};
use driver::Browser;

both_backends!(
    pages_and_line_client_chat,
    page_joins_a_second_room,
    markup_renders_as_text,
    page_reconnects_after_restart,
    taken_nick_asks_for_another,
);

/// One Chromium at a time: the machine is small, and pages of two tests
/// competing for it would only make timeouts likelier.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

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
    web_server_with(b, port, &[])
}

/// [`web_server`] with more flags.
fn web_server_with(b: Backend, port: u16, more: &[&str]) -> (TestServer, SocketAddr) {
    let port = port.to_string();
    let mut args = vec!["--http-port", &port];
    args.extend_from_slice(more);
    let s = server(b, &args);
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
    // The conversation follows bob to his new nick.
    br.say(&bob, "/nick bobby");
    br.wait(&ann, &shows("#lobby", "nick", None, "bob is now bobby"));
    br.wait(&ann, &shows("bobby", "nick", None, "bob is now bobby"));
    br.wait(
        &ann,
        "!!document.querySelector('#member-list li[data-nick=bobby]')",
    );
    br.wait(
        &ann,
        "document.querySelectorAll('#room-list li[data-room=bobby]').length === 1",
    );
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

/// A nick someone has is refused on the login form, which asks again.
fn taken_nick_asks_for_another(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    let _cy = srv.connect_as("cy");
    let page = br.open(&format!("http://{http}/"));
    br.eval(&page, "$('nick-input').focus()");
    br.type_text(&page, "cy");
    br.press(&page, "Enter");
    br.wait(&page, "/^cy: /.test($('login-error').textContent)");
    br.wait(
        &page,
        "!$('login').hidden && document.activeElement === $('nick-input')",
    );
    br.eval(&page, "$('nick-input').value = ''");
    br.log_in(&page, "cy2");

    // Errors from the server are shown where the person is looking.
    br.say(&page, "/msg nobody are you there?");
    br.wait(&page, "$('room-title').textContent === 'nobody'");
    let error =
        "Array.from(document.querySelectorAll('ol[data-buffer=nobody] li[data-kind=error]'))
                 .some((li) => li.textContent.includes('nobody'))";
    br.wait(&page, error);
}
