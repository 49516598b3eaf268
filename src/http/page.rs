//! One page of a listing from the store: `limit` rows after an opaque cursor, and the
//! cursor of the next page (`null` on the last).

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

/// The rows of one page under `prefix`, each decoded by `decode` into none, one or more
/// items, and the next page's cursor.
pub fn page<T, I: IntoIterator<Item = T>>(
    kv: &dyn Kv,
    prefix: &[u8],
    q: &PageQuery,
    decode: impl Fn(&[u8]) -> I,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = q.limit()?;
    let after = match &q.cursor {
        Some(c) => {
            let mut k = prefix.to_vec();
            k.extend(from_hex(c).ok_or_else(|| ApiError::invalid("cursor", "not a cursor"))?);
            Some(k)
        }
        None => None,
    };
    let rows = kv.scan_page(prefix, after.as_deref(), limit);
    let full = rows.len() == limit;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = None;
    for r in rows {
        let (k, v) = r.map_err(|e| ApiError::unavailable(e.to_string()))?;
        out.extend(decode(&v));
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
