//! The numerics for refused joins and mode changes (modern.ircdocs.horse):
//! 404, 405, 471, 473, 475, 476, 502 and 696. Written apart from
//! `replies.rs`, which calls here for these refusals.

use super::message::write;
use crate::proto::Refusal;

/// Appends the numeric for `r`, one of the refusals of joins and modes,
/// from server `srv` to client `me`.
pub(super) fn refusal(r: &Refusal, srv: &str, me: &str, out: &mut Vec<u8>) {
    let num = |out: &mut Vec<u8>, code: &str, params: &[&str], text: &str| {
        let mut parts = vec![code, me];
        parts.extend_from_slice(params);
        write(out, srv, &parts, Some(text));
    };
    match r {
        Refusal::InviteOnly(room) => num(out, "473", &[&chan(room)], "Cannot join channel (+i)"),
        Refusal::BadKey(room) => num(out, "475", &[&chan(room)], "Cannot join channel (+k)"),
        Refusal::RoomFull(room) => num(out, "471", &[&chan(room)], "Cannot join channel (+l)"),
        Refusal::CannotSend(room) => num(out, "404", &[&chan(room)], "Cannot send to channel"),
        Refusal::TooManyRooms(room) => num(
            out,
            "405",
            &[&chan(room)],
            "You have joined too many channels",
        ),
        Refusal::BadRoomMask(name, _) => {
            // As given, so a client can tell which of its list it was;
            // never empty, never a trailing parameter by mistake.
            let name = match name.as_ref() {
                "" => "*",
                n if n.starts_with(':') => "*",
                n => n,
            };
            num(out, "476", &[name], "Bad Channel Mask")
        }
        Refusal::InvalidModeParam {
            room,
            mode,
            param,
            why,
        } => {
            let param = if param.starts_with(':') { "*" } else { param };
            let mode = mode.to_string();
            num(out, "696", &[&chan(room), &mode, param], why)
        }
        // Modern IRC: a type B or C mode set without its parameter is
        // ignored, with no reply.
        Refusal::ModeNeedsParam(_) => {}
        Refusal::UsersDontMatch => num(out, "502", &[], "Cant change mode for other users"),
        Refusal::UnknownUserMode => num(out, "501", &[], "Unknown MODE flag"),
        _ => {}
    }
}

/// `#name` for a room name without `#`.
fn chan(room: &str) -> String {
    format!("#{room}")
}
