//! Paging for the dashboard's list pages (alerts, silences, targets): every list page renders
//! at most one page of rows, whatever the number of items, and says where it is
//! ("showing 1–100 of 208,112", previous/next links that keep the page's filters).
//!
//! The page size comes from the URL (`limit`, default [`DEFAULT_PAGE_SIZE`], capped at
//! [`MAX_PAGE_SIZE`]) and the page from `page` (1-based). A page is sliced out of the
//! filtered, sorted list before any row is built, so a page's memory and HTML are bounded by
//! its size, not by the number of items.

use super::PageCtx;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::ops::Range;

/// Rows a list page shows when the URL gives no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest `limit` a list page accepts; a larger one is lowered to it.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Which page of a list to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// Rows per page, 1..=[`MAX_PAGE_SIZE`].
    pub limit: usize,
    /// 1-based.
    pub page: usize,
}

impl Paging {
    /// The paging a request asks for: `limit` and `page` from the URL. An unparsable or
    /// zero value is an error naming the parameter.
    pub fn of(ctx: &PageCtx) -> Result<Paging, String> {
        Paging::from_query(&ctx.query)
    }

    /// [`Paging::of`] over query parameters.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Paging, String> {
        let num =
            |name: &str, default: usize| -> Result<usize, String> {
                match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                    None => Ok(default),
                    Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("{name}: expected a positive whole number, got {v:?}")
                    }),
                }
            };
        Ok(Paging {
            limit: num("limit", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE),
            page: num("page", 1)?,
        })
    }

    /// The rows of a list of `total` items this page shows (empty past the end).
    pub fn range(&self, total: usize) -> Range<usize> {
        let start = self
            .page
            .saturating_sub(1)
            .saturating_mul(self.limit)
            .min(total);
        start..start.saturating_add(self.limit).min(total)
    }

    /// The view model of the pager for a list of `total` items at `path` with the page's
    /// query `query` (its filters are kept in the links): `showing`, `prev`, `next`,
    /// `from`, `to`, `total`, `page`, `pages`.
    pub fn model(&self, path: &str, query: &HashMap<String, String>, total: usize) -> Json {
        let r = self.range(total);
        let pages = total.div_ceil(self.limit).max(1);
        let link = |page: usize| {
            let mut q = query.clone();
            q.insert("page".into(), page.to_string());
            q.insert("limit".into(), self.limit.to_string());
            href(path, &q)
        };
        let showing = if r.is_empty() {
            format!("showing 0 of {}", thousands(total))
        } else {
            format!(
                "showing {}–{} of {}",
                thousands(r.start + 1),
                thousands(r.end),
                thousands(total)
            )
        };
        json!({
            "showing": showing,
            "from": if r.is_empty() { 0 } else { r.start + 1 },
            "to": r.end,
            "total": total,
            "page": self.page,
            "pages": pages,
            "prev": (self.page > 1).then(|| link((self.page - 1).min(pages))),
            "next": (r.end < total).then(|| link(self.page + 1)),
        })
    }
}

/// `path?query`, the parameters in name order (empty values left out), percent-encoded.
pub fn href(path: &str, query: &HashMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> = query.iter().filter(|(_, v)| !v.is_empty()).collect();
    pairs.sort();
    if pairs.is_empty() {
        return path.to_string();
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    format!("{path}?{}", ser.finish())
}

/// `n` with thousands separators: `208,112`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limit_defaults_and_is_capped() {
        assert_eq!(
            Paging::from_query(&q(&[])).unwrap(),
            Paging {
                limit: DEFAULT_PAGE_SIZE,
                page: 1
            }
        );
        assert_eq!(
            Paging::from_query(&q(&[("limit", "1000000")]))
                .unwrap()
                .limit,
            MAX_PAGE_SIZE
        );
        let e = Paging::from_query(&q(&[("page", "0")])).unwrap_err();
        assert!(e.starts_with("page:"), "{e}");
        assert!(Paging::from_query(&q(&[("limit", "x")])).is_err());
    }

    #[test]
    fn ranges_and_links_of_the_last_page() {
        let p = Paging {
            limit: 100,
            page: 3,
        };
        // 250 items: the third page holds items 201..=250.
        assert_eq!(p.range(250), 200..250);
        let m = p.model("/alerts", &q(&[("state", "firing")]), 250);
        assert_eq!(m["showing"], "showing 201–250 of 250");
        assert_eq!(m["prev"], "/alerts?limit=100&page=2&state=firing");
        assert_eq!(m["next"], Json::Null);
        assert_eq!(p.range(10), 10..10, "past the end: nothing");
        assert_eq!(thousands(208_112), "208,112");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
