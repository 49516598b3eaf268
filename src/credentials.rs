//! Passwords already verified, so that binds after the first do not each pay for argon2.
//!
//! An argon2 check takes tens of milliseconds of a core and ~19 MiB; that is the point of
//! it for a wrong password, and a waste for the 200th bind of a reseller that opens 200
//! binds with the same right password (measured: argon2 was a third of tern's CPU in the
//! 200-bind load scenario). After a successful check, the cache keeps a keyed BLAKE2b tag
//! of the password (the key is random per process, so the tags are useless outside it),
//! tied to the account's password hash, which changes whenever the password does. A bind
//! whose password matches the tag is accepted at once. Anything else, a wrong password
//! included, still goes through argon2: failures stay as slow as before.

use std::collections::HashMap;
use std::sync::Mutex;

use blake2::{Blake2b512, Digest};

/// Verified credentials by system_id.
pub struct VerifiedCache {
    key: [u8; 32],
    entries: Mutex<HashMap<String, Verified>>,
}

struct Verified {
    /// The argon2 PHC string the password was checked against.
    password_hash: String,
    /// Keyed BLAKE2b of the password.
    tag: [u8; 64],
}

impl Default for VerifiedCache {
    fn default() -> Self {
        VerifiedCache::new(rand::random())
    }
}

impl VerifiedCache {
    /// A cache keyed with `key` (use [`Default`] for a random one).
    pub fn new(key: [u8; 32]) -> Self {
        VerifiedCache {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, password: &str) -> [u8; 64] {
        let mut h = Blake2b512::new_with_prefix(self.key);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// True when `password` was verified before against `password_hash` for `system_id`.
    /// False means "not known", never "wrong": the caller must then run argon2.
    pub fn is_verified(&self, system_id: &str, password: &str, password_hash: &str) -> bool {
        let tag = self.tag(password);
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries.get(system_id).is_some_and(|v| {
            v.password_hash == password_hash
                && v.tag
                    .iter()
                    .zip(tag.iter())
                    .fold(0u8, |d, (a, b)| d | (a ^ b))
                    == 0
        })
    }

    /// Remembers that `password` matched `password_hash` for `system_id` (argon2 said so).
    pub fn remember(&self, system_id: &str, password: &str, password_hash: &str) {
        let tag = self.tag(password);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                system_id.to_string(),
                Verified {
                    password_hash: password_hash.to_string(),
                    tag,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_verified_password_for_the_same_hash_is_known() {
        let c = VerifiedCache::default();
        assert!(!c.is_verified("demo", "demopass", "$h1"));
        c.remember("demo", "demopass", "$h1");
        assert!(c.is_verified("demo", "demopass", "$h1"));
        assert!(!c.is_verified("demo", "demopas", "$h1"), "another password");
        assert!(
            !c.is_verified("demo", "demopass", "$h2"),
            "the password changed"
        );
        assert!(
            !c.is_verified("other", "demopass", "$h1"),
            "another account"
        );
    }

    #[test]
    fn tags_depend_on_the_key() {
        let (a, b) = (VerifiedCache::new([1; 32]), VerifiedCache::new([2; 32]));
        assert_ne!(a.tag("demopass"), b.tag("demopass"));
        assert_eq!(a.tag("demopass"), a.tag("demopass"));
    }
}
