//! The query string of `/connz`: `offset`, `limit` and `sort`, each at
//! most once; anything else is refused with the reason.

/// Connections listed when `limit` is not given.
pub(super) const DEFAULT_LIMIT: usize = 100;
/// The most connections one page lists.
pub(super) const MAX_LIMIT: usize = 1000;

/// The order `/connz` lists connections in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sort {
    /// By connection id: the order they connected in (the default).
    Id,
    /// Most unsent bytes first.
    Pending,
    /// Longest connected first.
    Since,
    /// By nick, ignoring case.
    Nick,
}

impl Sort {
    pub(super) fn name(self) -> &'static str {
        match self {
            Sort::Id => "id",
            Sort::Pending => "pending",
            Sort::Since => "since",
            Sort::Nick => "nick",
        }
    }
}

/// What a `/connz` request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConnzQuery {
    pub offset: usize,
    pub limit: usize,
    pub sort: Sort,
}

impl Default for ConnzQuery {
    fn default() -> ConnzQuery {
        ConnzQuery {
            offset: 0,
            limit: DEFAULT_LIMIT,
            sort: Sort::Id,
        }
    }
}

/// Parses `offset=N&limit=M&sort=S` (any order, any subset).
pub(super) fn parse_connz(query: Option<&str>) -> Result<ConnzQuery, String> {
    let mut q = ConnzQuery::default();
    let mut seen: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{pair:?} needs a value (name=value)"));
        };
        if seen.contains(&key) {
            return Err(format!("{key:?} is given twice"));
        }
        match key {
            "offset" => q.offset = number(key, value)?,
            "limit" => {
                q.limit = number(key, value)?;
                if !(1..=MAX_LIMIT).contains(&q.limit) {
                    return Err(format!("limit must be 1 to {MAX_LIMIT}"));
                }
            }
            "sort" => {
                q.sort = match value {
                    "id" => Sort::Id,
                    "pending" => Sort::Pending,
                    "since" => Sort::Since,
                    "nick" => Sort::Nick,
                    _ => return Err("sort must be id, pending, since or nick".into()),
                }
            }
            _ => {
                return Err(format!(
                    "unknown parameter {key:?} (offset, limit and sort are known)"
                ))
            }
        }
        seen.push(key);
    }
    Ok(q)
}

/// A decimal number of at most 9 digits (no sign, no spaces).
fn number(key: &str, value: &str) -> Result<usize, String> {
    if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{key} must be a number, not {value:?}"));
    }
    value
        .parse()
        .map_err(|_| format!("{key} must be a number, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_query_gives_the_defaults() {
        assert_eq!(parse_connz(None), Ok(ConnzQuery::default()));
        assert_eq!(parse_connz(Some("")), Ok(ConnzQuery::default()));
        assert_eq!(ConnzQuery::default().limit, 100);
    }

    #[test]
    fn every_parameter_in_any_order() {
        let q = parse_connz(Some("sort=nick&limit=1000&offset=20")).unwrap();
        assert_eq!(
            q,
            ConnzQuery {
                offset: 20,
                limit: 1000,
                sort: Sort::Nick
            }
        );
        assert_eq!(parse_connz(Some("limit=1")).unwrap().limit, 1);
        assert_eq!(
            parse_connz(Some("sort=pending&")).unwrap().sort,
            Sort::Pending
        );
        assert_eq!(parse_connz(Some("sort=since")).unwrap().sort, Sort::Since);
        assert_eq!(parse_connz(Some("sort=id")).unwrap().sort, Sort::Id);
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for (query, why) in [
            ("limit=0", "limit must be 1 to 1000"),
            ("limit=1001", "limit must be 1 to 1000"),
            ("limit=-1", "limit must be a number"),
            ("limit=", "limit must be a number"),
            ("offset=+3", "offset must be a number"),
            ("offset=1e3", "offset must be a number"),
            ("offset=9999999999", "offset must be a number"),
            ("offset", "needs a value"),
            ("sort=size", "sort must be"),
            ("limit=5&limit=6", "given twice"),
            ("page=2", "unknown parameter"),
            ("limit=%31", "limit must be a number"),
        ] {
            let err = parse_connz(Some(query)).expect_err(query);
            assert!(err.contains(why), "{query}: {err}");
        }
    }
}
