//! IRCv3 labeled-response: what the server sends for one labelled
//! command, its label attached. One line carries the `label` tag itself;
//! several go in a `labeled-response` batch (IRCv3 `batch`) whose start
//! carries it; none is answered by `ACK`.

use super::tags;
use super::IrcSession;

impl IrcSession {
    /// `replies`, the whole of what answered a command labelled `label`,
    /// rewritten as labeled-response says.
    pub(crate) fn labelled(&mut self, label: &str, replies: &[u8]) -> Vec<u8> {
        let srv: &str = &self.identity.server;
        let mut tag = String::from("label=");
        tags::escape(label, &mut tag);
        let lines: Vec<&[u8]> = replies
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut out = Vec::with_capacity(replies.len() + 64 + 16 * lines.len());
        match lines[..] {
            [] => {
                push_tagged(&mut out, &tag, format!(":{srv} ACK\r\n").as_bytes());
            }
            [line] => push_tagged(&mut out, &tag, line),
            _ => {
                self.batches += 1;
                let id = format!("L{}", self.batches);
                let start = format!(":{srv} BATCH +{id} labeled-response\r\n");
                push_tagged(&mut out, &tag, start.as_bytes());
                let batch = format!("batch={id}");
                for line in lines {
                    push_tagged(&mut out, &batch, line);
                }
                out.extend_from_slice(format!(":{srv} BATCH -{id}\r\n").as_bytes());
            }
        }
        out
    }
}

/// Appends `line` with the tag `tag` added to those it has, if any.
fn push_tagged(out: &mut Vec<u8>, tag: &str, line: &[u8]) {
    out.push(b'@');
    out.extend_from_slice(tag.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.push(b';');
            out.extend_from_slice(rest);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::proto::Identity;

    fn session() -> IrcSession {
        IrcSession::new(Arc::new(Identity {
            server: "srv".into(),
            network: "net".into(),
            motd: Default::default(),
            history_max: 100,
        }))
    }

    fn labelled(label: &str, replies: &str) -> String {
        let out = session().labelled(label, replies.as_bytes());
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn no_reply_is_an_ack() {
        assert_eq!(labelled("a b", ""), "@label=a\\sb :srv ACK\r\n");
    }

    #[test]
    fn one_reply_carries_the_label_beside_its_tags() {
        assert_eq!(
            labelled("x", ":srv PONG srv :t\r\n"),
            "@label=x :srv PONG srv :t\r\n"
        );
        assert_eq!(
            labelled("x", "@time=1;msgid=2 :n!n@user/n PRIVMSG #a :hi\r\n"),
            "@label=x;time=1;msgid=2 :n!n@user/n PRIVMSG #a :hi\r\n"
        );
    }

    #[test]
    fn several_replies_are_one_batch() {
        let mut s = session();
        let out = s.labelled("q", b":srv 311 me a\r\n@time=1 :srv 318 me a :End\r\n");
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "@label=q :srv BATCH +L1 labeled-response\r\n\
             @batch=L1 :srv 311 me a\r\n\
             @batch=L1;time=1 :srv 318 me a :End\r\n\
             :srv BATCH -L1\r\n"
        );
        let next = s.labelled("r", b"a\r\nb\r\n");
        assert!(next.starts_with(b"@label=r :srv BATCH +L2 "), "fresh ids");
    }
}
