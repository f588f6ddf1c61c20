//! The chat page and accounts: the login form's password logs in with
//! SASL PLAIN, a wrong one is refused on the form, and `/msg NickServ
//! IDENTIFY` works from the page too.

use serde_json::json;

use super::driver::{Browser, Page};
use super::{web_server, ONE_BROWSER};
use crate::accounts::registered;
use crate::util::Backend;

both_backends!(page_logs_in_with_a_password);

/// Fills in the password field (empty: clears it).
fn password(br: &mut Browser, page: &Page, password: &str) {
    br.eval(
        page,
        "$('password-input').value = ''; $('nick-input').value = ''",
    );
    br.eval(page, "$('password-input').focus()");
    br.type_text(page, password);
}

/// `dee` and `eve` are registered by line clients, which then take other
/// nicks. A page with dee's nick and a wrong password is sent back to the
/// form; with the right one it is logged in, and gets no warning that the
/// nick is registered. A page without a password for eve's nick is warned
/// and logs in with `/msg NickServ IDENTIFY`.
fn page_logs_in_with_a_password(b: Backend) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut br) = Browser::launch() else {
        return;
    };
    let (srv, http) = web_server(b, 0);
    for nick in ["dee", "eve"] {
        let mut c = registered(&srv, nick, "secret123");
        c.send("/quit");
        c.expect("* bye");
        c.expect_closed();
    }
    let url = format!("http://{http}/");

    let dee = br.open(&url);
    password(&mut br, &dee, "wrongpass");
    br.eval(&dee, "$('nick-input').focus()");
    br.type_text(&dee, "dee");
    br.press(&dee, "Enter");
    br.wait(&dee, "/^Not logged in/.test($('login-error').textContent)");
    br.wait(
        &dee,
        "!$('login').hidden && document.activeElement === $('password-input')",
    );
    assert_eq!(br.eval(&dee, "document.body.dataset.me || ''"), json!(""));

    password(&mut br, &dee, "secret123");
    br.log_in(&dee, "dee");
    br.wait(&dee, "document.body.dataset.account === 'dee'");
    br.wait(
        &dee,
        "$('status').textContent === 'Connected as dee, logged in'",
    );

    let eve = br.open(&url);
    br.log_in(&eve, "eve");
    br.wait(
        &eve,
        "document.body.innerText.includes('eve is a registered nick: identify within')",
    );
    assert_eq!(
        br.eval(&eve, "document.body.dataset.account || ''"),
        json!("")
    );
    br.say(&eve, "/msg NickServ IDENTIFY secret123");
    br.wait(&eve, "document.body.dataset.account === 'eve'");
    br.wait(
        &eve,
        "$('status').textContent === 'Connected as eve, logged in'",
    );

    // dee was never warned: the password logged it in before registering.
    let warned = br.eval(
        &dee,
        "document.body.innerText.includes('is a registered nick')",
    );
    assert_eq!(warned, json!(false));
    drop(srv);
}
