//! What `/connz` and `/varz` share: timestamps as RFC 3339, URLs shown
//! without their credentials, and JSON errors.

use serde_json::json;

use super::http::Response;

/// `ms` since the Unix epoch as RFC 3339 in UTC, to the millisecond
/// (`2024-05-01T12:00:00.250Z`).
pub(super) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A URL without what could be a secret: its user and password, its
/// query and fragment (`redis://:pw@host:6379/0?x` -> `redis://host:6379/0`).
pub(super) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not shown)".into();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    // Everything up to the last `@` may be credentials, even a password
    // holding a `/`.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    format!("{scheme}://{rest}")
}

/// A 400 answer with the reason as JSON: `{"error": "..."}`.
pub(super) fn bad_request(why: &str) -> Response {
    Response::json(400, &json!({ "error": why }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_250), "2023-11-14T22:13:20.250Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("redis://user:secret@10.0.0.5:6379/2"),
            "redis://10.0.0.5:6379/2"
        );
        assert_eq!(redact_url("redis://:secret@host"), "redis://host");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?pass=secret"),
            "redis+unix:///run/redis.sock"
        );
        assert_eq!(redact_url("rediss://a:b@h:1/0#frag@x"), "rediss://h:1/0");
        assert_eq!(redact_url("redis://:se/cr@et@h:1"), "redis://h:1");
        assert_eq!(redact_url("no scheme:secret"), "(not shown)");
    }
}
