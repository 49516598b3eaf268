//! `Idempotency-Key` rules, apart from where answers are stored
//! (`http::customer::idempotency`): what a key may be, what a stored answer means for a
//! request, and which keys are being answered now.
//!
//! A key is held ([`InFlight::hold`]) from the request's first look at the store until the
//! ledger has stored its message or refused it: the [`Held`] travels with the message to
//! the ledger, so even a request its client drops keeps its key until then.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::keys::IdempotentAnswer;

/// How long a key's answer is kept.
pub const KEEP_MS: u64 = 24 * 3600 * 1000;
/// The longest key.
pub const MAX_KEY: usize = 255;
/// Checks a key as a client sent it: 1 to [`MAX_KEY`] visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "1 to {MAX_KEY} visible ASCII characters (a UUID is a good key)"
        ));
    }
    Ok(())
}

/// SHA-256 of a request's body, hex.
pub fn body_sha256(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a stored answer means for a request with the same key.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Never used (or used more than [`KEEP_MS`] ago): the request goes on.
    Fresh,
    /// The same body: the first answer is given again.
    Replay(IdempotentAnswer),
    /// Another body with the same key.
    Mismatch,
}

/// Judges a request whose body hashes to `body_sha256` against the key's stored answer.
pub fn seen(stored: Option<IdempotentAnswer>, body_sha256: &str, now_ms: u64) -> Seen {
    match stored {
        Some(a) if now_ms.saturating_sub(a.created_ms) >= KEEP_MS => Seen::Fresh,
        Some(a) if a.body_sha256 == body_sha256 => Seen::Replay(a),
        Some(_) => Seen::Mismatch,
        None => Seen::Fresh,
    }
}

/// The keys of requests being answered now, per account.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<(String, String)>>>);

/// A key held in flight; let go when dropped (answered, or the request was dropped).
pub struct Held {
    set: InFlight,
    entry: (String, String),
}

impl InFlight {
    /// Holds `key` for `account`, or `None` when a request with it is in flight.
    pub fn hold(&self, account: &str, key: &str) -> Option<Held> {
        let entry = (account.to_string(), key.to_string());
        // the set holds plain strings: a panic elsewhere cannot leave it half changed
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(entry.clone()).then(|| Held {
            set: self.clone(),
            entry,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut set = self.set.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.remove(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Micros;

    fn answer(hash: &str, at: u64) -> IdempotentAnswer {
        IdempotentAnswer {
            body_sha256: hash.into(),
            id: "0000000000000007".into(),
            parts: 2,
            price: Micros(20_000),
            created_ms: at,
        }
    }

    #[test]
    fn the_same_body_replays_another_is_a_mismatch_and_a_day_later_it_is_fresh() {
        let h = body_sha256(b"{\"to\":\"+49\"}");
        assert_eq!(h.len(), 64);
        assert_eq!(seen(None, &h, 5), Seen::Fresh);
        assert_eq!(
            seen(Some(answer(&h, 1_000)), &h, 2_000),
            Seen::Replay(answer(&h, 1_000))
        );
        assert_eq!(
            seen(Some(answer(&h, 1_000)), &body_sha256(b"{}"), 2_000),
            Seen::Mismatch
        );
        assert_eq!(
            seen(Some(answer(&h, 1_000)), &h, 1_000 + KEEP_MS - 1),
            Seen::Replay(answer(&h, 1_000))
        );
        assert_eq!(
            seen(Some(answer(&h, 1_000)), "x", 1_000 + KEEP_MS),
            Seen::Fresh
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(check_key("3f1c2e0a-9b7d-4c1e-8f00-1234567890ab").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY)).is_ok());
        for bad in ["", "a b", "ключ", "tab\there"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key(&"k".repeat(MAX_KEY + 1)).is_err());
    }

    #[test]
    fn a_key_is_held_once_per_account_until_let_go() {
        let f = InFlight::default();
        let held = f.hold("acme", "k1").expect("free");
        assert!(f.hold("acme", "k1").is_none(), "in flight");
        assert!(
            f.hold("other", "k1").is_some(),
            "another account's key is its own"
        );
        drop(held);
        assert!(f.hold("acme", "k1").is_some(), "let go when answered");
    }
}
