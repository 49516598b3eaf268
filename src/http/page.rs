//! One page of a listing from the store: `limit` rows after an opaque cursor, and the
//! cursor of the next page (`null` on the last).

use std::ops::Bound;

use serde::Deserialize;

use crate::store::kv::Kv;

use super::error::ApiError;

/// Rows per page unless `limit` says otherwise, and at most.
pub const DEFAULT_LIMIT: usize = 100;
/// The most rows one page holds.
pub const MAX_LIMIT: usize = 1000;

/// `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Rows wanted (1 to [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size asked for, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

/// One page under `prefix`: each stored record decoded by `decode` into none, one or
/// more rows, at most `limit` rows in all, and the next page's cursor. A cursor names the
/// last record read and, when the page ended inside it, how many of its rows were given
/// (`<hex key>.<n>`), so a record of many rows is never skipped nor given twice.
pub fn page<T, I: IntoIterator<Item = T>>(
    kv: &dyn Kv,
    prefix: &[u8],
    q: &PageQuery,
    decode: impl Fn(&[u8]) -> I,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = q.limit()?;
    let bad = || ApiError::invalid("cursor", "not a cursor");
    let (key, mut skip) = match &q.cursor {
        Some(c) => {
            let (hex, n) = match c.split_once('.') {
                Some((h, n)) => (h, n.parse::<usize>().map_err(|_| bad())?),
                None => (c.as_str(), 0),
            };
            let mut k = prefix.to_vec();
            k.extend(from_hex(hex).ok_or_else(bad)?);
            (Some(k), n)
        }
        None => (None, 0),
    };
    let from = match (&key, skip) {
        (None, _) => Bound::Unbounded,
        (Some(k), 0) => Bound::Excluded(k.as_slice()),
        (Some(k), _) => Bound::Included(k.as_slice()),
    };
    let rows = kv.scan_page(prefix, from, limit);
    let full = rows.len() == limit;
    let mut out = Vec::with_capacity(limit.min(rows.len()));
    let mut last = None;
    for r in rows {
        if out.len() == limit {
            // full at a record's edge: the next page starts after the last one read
            return Ok((out, last.map(|k: Vec<u8>| to_hex(&k[prefix.len()..]))));
        }
        let (k, v) = r.map_err(|e| ApiError::unavailable(e.to_string()))?;
        let mut items = decode(&v).into_iter().skip(skip).peekable();
        let mut given = skip;
        while let Some(t) = items.next() {
            out.push(t);
            given += 1;
            if out.len() == limit && items.peek().is_some() {
                // the page ends inside this record
                let at = format!("{}.{given}", to_hex(&k[prefix.len()..]));
                return Ok((out, Some(at)));
            }
        }
        skip = 0;
        last = Some(k);
    }
    let next = match last {
        Some(k) if full => Some(to_hex(&k[prefix.len()..])),
        _ => None,
    };
    Ok((out, next))
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 512 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_inside_a_record_of_many_rows_without_losing_or_repeating_one() {
        use crate::store::engine::Engine;
        use crate::store::kv::WriteBatch;
        let dir = tempfile::tempdir().unwrap();
        let kv = Engine::open(dir.path(), 8).unwrap();
        let mut b = WriteBatch::default();
        // records of 3, 1, 2 and 1 rows: a row is (record, index)
        for (key, n) in [("l/a/1", 3u8), ("l/a/2", 1), ("l/a/3", 2), ("l/a/4", 1)] {
            b.put(key.as_bytes(), vec![n]);
        }
        b.put(b"l/b/1".as_slice(), vec![9]);
        kv.apply(&mut b).unwrap();
        let rows = |v: &[u8]| (0..v[0]).map(|i| (v[0], i)).collect::<Vec<_>>();
        for limit in 1..=8 {
            let mut all = Vec::new();
            let mut q = PageQuery {
                limit: Some(limit),
                cursor: None,
            };
            for _ in 0..20 {
                let (got, next) = page(&*kv, b"l/a/", &q, rows).unwrap();
                assert!(got.len() <= limit);
                all.extend(got);
                match next {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
            let want = vec![(3, 0), (3, 1), (3, 2), (1, 0), (2, 0), (2, 1), (1, 0)];
            assert_eq!(all, want, "limit {limit}");
        }
    }

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(
            from_hex(&to_hex(b"l/a/\x00\xff")),
            Some(b"l/a/\x00\xff".to_vec())
        );
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("abc"), None);
        let q = PageQuery {
            limit: Some(0),
            cursor: None,
        };
        assert!(q.limit().is_err());
    }
}
