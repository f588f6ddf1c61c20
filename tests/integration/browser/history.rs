//! The chat page and room history: lines said before a page joins a room
//! are shown on joining, marked as history, before the live lines, never
//! as unread, and a rejoin does not show a line twice.

use serde_json::{json, Value};

use super::driver::{Browser, Page};
use super::{js, shows, web_server_with, ONE_BROWSER};
use crate::util::Backend;

both_backends!(page_shows_room_history);

/// A JavaScript expression: the lines of the buffer `room`, in order, as
/// `[kind, from, text, history]` (`history`: the line is marked as such;
/// the divider is `["divider", "", "History", false]`).
fn lines(room: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('ol[data-buffer=' + JSON.stringify({room}) + '] li'))
           .map((li) => [li.dataset.kind, li.dataset.from || '',
                         li.querySelector('.text') ? li.querySelector('.text').textContent
                                                   : li.textContent,
                         li.dataset.history === 'true'])",
        room = js(room)
    )
}

/// The lines of `room` as [`lines`] gives them.
fn read_lines(br: &mut Browser, page: &Page, room: &str) -> Vec<(String, String, String, bool)> {
    let v = br.eval(page, &lines(room));
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    v.as_array()
        .unwrap_or_else(|| panic!("the lines of {room}: {v}"))
        .iter()
        .map(|l| (s(&l[0]), s(&l[1]), s(&l[2]), l[3] == json!(true)))
        .collect()
}

/// A line client says lines, an action and two topic changes in `#past`
/// (and a line in `#other`); the page joining `#past` shows them dimmed,
/// with their date, under a "History" divider, in order and before its
/// own join; the topic is the room's current one; a live line comes after
/// them; `#other`'s history counts as no unread line; after a kick and a
/// rejoin, only the line said meanwhile is added.
fn page_shows_room_history(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server_with(b, 0, &["--history", "20"]);
    // dee, in each room, reads cy's lines as they are said: a line a
    // client has been sent is one the history writer has been handed, so
    // the page's join later is answered with it.
    let mut cy = srv.connect_as("cy");
    let mut dee = srv.connect_as("dee");
    cy.send("/join #other");
    cy.read_until("* you joined #other (1 users)");
    dee.send("/join #other");
    cy.read_until("* dee joined #other");
    cy.send("over in the other room");
    dee.read_until("[cy] over in the other room");
    cy.send("/join #past");
    cy.read_until("* you joined #past (1 users)");
    dee.send("/join #past");
    cy.read_until("* dee joined #past");
    cy.send("/topic an old topic");
    cy.send("first line, from before");
    cy.send("/me waves from the past");
    cy.send("second line, <b>not bold</b>");
    cy.send("/topic the current topic");
    dee.read_until("* cy set the topic of #past: the current topic");

    let ann = br.open(&format!("http://{http}/"));
    br.log_in(&ann, "ann");
    // Every text #topic shows, to check that no topic of the past does.
    br.eval(
        &ann,
        "window.topics = []; new MutationObserver(() => topics.push($('topic').textContent))
           .observe($('topic'), { childList: true, characterData: true, subtree: true })",
    );

    // A room joined without being shown: its history is no unread line.
    br.say(&ann, "/quote JOIN #other");
    br.wait(
        &ann,
        &shows("#other", "msg", Some("cy"), "over in the other room"),
    );
    br.wait(&ann, "$('room-title').textContent === '#lobby'");
    let unread = br.eval(
        &ann,
        "$('room-list').querySelector('li[data-room=\"#other\"] .unread').textContent",
    );
    assert_eq!(unread, json!(""), "history counted as unread");

    br.say(&ann, "/join #past");
    br.wait(&ann, "$('room-title').textContent === '#past'");
    br.wait(
        &ann,
        &shows(
            "#past",
            "topic",
            None,
            "cy set the topic: the current topic",
        ),
    );
    let l = |kind: &str, from: &str, text: &str, history: bool| {
        (kind.into(), from.into(), text.into(), history)
    };
    let history = vec![
        l("divider", "", "History", false),
        l("topic", "", "cy set the topic: an old topic", true),
        l("msg", "cy", "first line, from before", true),
        l("action", "cy", "waves from the past", true),
        l("msg", "cy", "second line, <b>not bold</b>", true),
        l("topic", "", "cy set the topic: the current topic", true),
    ];
    let joined = l("join", "", "→ ann joined #past", false);
    let mut want = history.clone();
    want.push(joined.clone());
    assert_eq!(read_lines(&mut br, &ann, "#past"), want);
    assert_eq!(
        br.eval(&ann, "document.querySelectorAll('#log b').length"),
        json!(0)
    );
    // History lines show their date (the year), live ones only the time.
    let dated = "Array.from(document.querySelectorAll('ol[data-buffer=\"#past\"] li[data-kind]:not([data-kind=divider])'))
                   .map((li) => { const t = li.querySelector('time');
                                  return t.textContent.includes(String(new Date(t.dateTime).getFullYear())); })";
    assert_eq!(
        br.eval(&ann, dated),
        json!([true, true, true, true, true, false])
    );
    // The topic is the room's current one; the old one was never shown.
    assert_eq!(
        br.eval(
            &ann,
            "[$('topic').textContent, topics.includes('an old topic')]"
        ),
        json!(["the current topic", false])
    );

    // A live line comes after the history, not marked as history.
    cy.send("and this one is live");
    br.wait(
        &ann,
        &shows("#past", "msg", Some("cy"), "and this one is live"),
    );
    let live = l("msg", "cy", "and this one is live", false);
    want.push(live.clone());
    assert_eq!(read_lines(&mut br, &ann, "#past"), want);
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-client-history.png");
    br.screenshot(&ann, &shot);

    // Kicked and back: the history sent again adds only what was said
    // meanwhile; the lines already shown are not shown twice.
    cy.send("/kick ann out you go");
    br.wait(
        &ann,
        &shows("#past", "kick", None, "← ann was kicked by cy (out you go)"),
    );
    cy.send("said while ann was out");
    dee.read_until("[cy] said while ann was out");
    br.say(&ann, "/join #past");
    br.wait(
        &ann,
        &shows("#past", "msg", Some("cy"), "said while ann was out"),
    );
    br.wait(
        &ann,
        "document.querySelectorAll('ol[data-buffer=\"#past\"] li[data-kind=join]').length === 2",
    );
    want.push(l("kick", "", "← ann was kicked by cy (out you go)", false));
    want.push(l("divider", "", "History", false));
    want.push(l("msg", "cy", "said while ann was out", true));
    want.push(joined);
    assert_eq!(read_lines(&mut br, &ann, "#past"), want);
    drop(srv);
}
