//! API keys of the customer HTTP API: how a key is made, what the store keeps of it, and
//! how a request's key is checked.
//!
//! A key reads `tk_<key_id>_<secret>`. The store keeps the key id, the account and the
//! SHA-256 of the secret, never the secret: a stolen data dir does not give anyone the
//! right to send. The secret is 32 random bytes, so a fast hash is as safe as a slow one
//! (there is nothing to guess) and costs microseconds per request, where argon2 would cost
//! milliseconds. The key id finds the record; the hash is compared in constant time.
//!
//! Each key comes with its own webhook secret (`whsec_<base64>`, Standard Webhooks): the
//! receipts of messages sent with a key are signed with that key's secret. It must be used
//! to sign, so it is stored as it is, and shown only once, when the key is made.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Every live (not revoked) key, by key id.
pub type ApiKeyTable = HashMap<String, Arc<ApiKey>>;

/// An API key as the store keeps it (`y/<key_id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    /// The public half of the key, shown in listings and the audit trail.
    pub key_id: String,
    /// The account it sends for.
    pub account: String,
    /// SHA-256 of the secret half, hex.
    pub hash: String,
    /// Signs this key's webhooks.
    pub webhook_secret: Secret,
    /// Unix milliseconds.
    pub created_ms: u64,
    /// Set once revoked; a revoked key is refused at once and kept for the record.
    #[serde(default)]
    pub revoked_ms: Option<u64>,
}

/// A new key as its owner sees it, once.
#[derive(Debug)]
pub struct Issued {
    /// The stored record.
    pub record: ApiKey,
    /// The whole key, `tk_<key_id>_<secret>`.
    pub key: Secret,
}

fn sha256_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a key for `account`, with its webhook secret.
pub fn issue(account: &str, now_ms: u64) -> Issued {
    let id: [u8; 6] = rand::random();
    let key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let webhook_secret = format!("whsec_{}", STANDARD.encode(rand::random::<[u8; 32]>()));
    Issued {
        key: Secret::from(format!("tk_{key_id}_{secret}")),
        record: ApiKey {
            key_id,
            account: account.to_string(),
            hash: sha256_hex(&secret),
            webhook_secret: Secret::from(webhook_secret),
            created_ms: now_ms,
            revoked_ms: None,
        },
    }
}

/// Splits a presented key into its id and secret; `None` when it is not a tern key.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("tk_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

impl ApiKey {
    /// Whether `secret` is this key's secret (constant time in the secret's hash).
    pub fn verify(&self, secret: &str) -> bool {
        let h = sha256_hex(secret);
        h.len() == self.hash.len()
            && h.bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The key as listings and the audit trail show it: no hash, no secret.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "key_id": self.key_id,
            "account": self.account,
            "created": crate::domain::clock::rfc3339(self.created_ms),
            "revoked": self.revoked_ms.map(crate::domain::clock::rfc3339),
        })
    }
}

/// Looks the presented key up: the live record it matches.
pub fn check(table: &ApiKeyTable, key: &str) -> Option<Arc<ApiKey>> {
    let (id, secret) = parse(key)?;
    let k = table.get(id)?;
    k.verify(secret).then(|| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_checks_and_others_do_not() {
        let issued = issue("acme", 1);
        let mut table = ApiKeyTable::new();
        table.insert(
            issued.record.key_id.clone(),
            Arc::new(issued.record.clone()),
        );
        let key = issued.key.expose().to_string();
        assert_eq!(
            check(&table, &key).map(|k| k.account.clone()),
            Some("acme".into())
        );
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('A') { 'B' } else { 'A' });
        assert!(check(&table, &wrong).is_none());
        assert!(check(&table, "tk_").is_none());
        assert!(check(&table, "change-me").is_none());
        assert!(check(&table, issue("acme", 1).key.expose()).is_none());
    }

    #[test]
    fn the_record_holds_no_secret_half() {
        let issued = issue("acme", 1);
        let (_, secret) = parse(issued.key.expose()).expect("a tern key");
        let stored = serde_json::to_string(&issued.record).expect("serializes");
        assert!(!stored.contains(secret));
        assert!(!issued.record.to_json().to_string().contains("whsec_"));
        assert!(issued.record.webhook_secret.expose().starts_with("whsec_"));
    }

    #[test]
    fn keys_are_unique() {
        let a = issue("x", 1);
        let b = issue("x", 1);
        assert_ne!(a.record.key_id, b.record.key_id);
        assert_ne!(a.key.expose(), b.key.expose());
        assert_ne!(
            a.record.webhook_secret.expose(),
            b.record.webhook_secret.expose()
        );
    }
}
