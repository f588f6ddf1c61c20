//! What each admin path answers.

use super::connz::{self, CENSUS_TIMEOUT};
use super::http::{Request, Response};
use super::json::bad_request;
use super::metrics::{self, wants_openmetrics};
use super::query::parse_connz;
use super::varz::varz;
use super::Context;
use crate::metrics::Snapshot;

const INDEX: &str = "shardchat admin endpoint\n\
/metrics  Prometheus metrics\n\
/healthz  200 while the process serves\n\
/readyz   200 while it takes new clients, 503 and why otherwise\n\
/connz    connections as JSON (?offset=N&limit=M&sort=id|pending|since|nick)\n\
/varz     version, counters and settings as JSON";

/// The answer to `req`.
pub(super) fn route(req: &Request, ctx: &Context) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "only GET and HEAD are allowed");
    }
    match req.path.as_str() {
        "/" => Response::text(200, INDEX),
        "/healthz" => Response::text(200, "ok"),
        "/readyz" => match not_ready(&ctx.snapshot()) {
            None => Response::text(200, "ready"),
            Some(why) => Response::text(503, why),
        },
        "/metrics" => {
            let s = ctx.snapshot();
            let ready = not_ready(&s).is_none();
            let (body, content_type) =
                metrics::encode(s, ready, wants_openmetrics(req.accept.as_deref()));
            Response::new(200, content_type, body)
        }
        "/varz" => {
            let s = ctx.snapshot();
            Response::json(200, &varz(&s, &ctx.shared, not_ready(&s)))
        }
        "/connz" => match parse_connz(req.query.as_deref()) {
            Err(why) => bad_request(&why),
            Ok(q) => {
                let (mut conns, missing) = connz::census(&ctx.shards, CENSUS_TIMEOUT);
                Response::json(200, &connz::page(&mut conns, &missing, q))
            }
        },
        _ => Response::text(
            404,
            "not found: try /metrics, /healthz, /readyz, /connz or /varz",
        ),
    }
}

/// Why the server should not be sent new clients now, if it should not:
/// it is draining, not (or no longer) accepting, or (in a cluster) cut off
/// from the other nodes, or its storage is down.
pub(super) fn not_ready(s: &Snapshot) -> Option<&'static str> {
    if s.draining {
        Some("draining")
    } else if !s.accepting {
        Some("not accepting connections")
    } else if s.cluster.as_ref().is_some_and(|c| !c.up) {
        Some("cluster bridge down")
    } else if !s.store.up {
        Some("storage down")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{BridgeView, StoreView};

    #[test]
    fn ready_only_when_everything_is() {
        let ok = Snapshot {
            accepting: true,
            store: StoreView {
                up: true,
                ..StoreView::default()
            },
            cluster: Some(BridgeView {
                up: true,
                ..BridgeView::default()
            }),
            ..Snapshot::default()
        };
        assert_eq!(not_ready(&ok), None);
        let without_cluster = Snapshot {
            cluster: None,
            ..ok.clone()
        };
        assert_eq!(not_ready(&without_cluster), None);
        let mut s = ok.clone();
        s.draining = true;
        assert_eq!(not_ready(&s), Some("draining"));
        let mut s = ok.clone();
        s.accepting = false;
        assert_eq!(not_ready(&s), Some("not accepting connections"));
        let mut s = ok.clone();
        s.cluster = Some(BridgeView::default());
        assert_eq!(not_ready(&s), Some("cluster bridge down"));
        let mut s = ok;
        s.store.up = false;
        assert_eq!(not_ready(&s), Some("storage down"));
    }
}
