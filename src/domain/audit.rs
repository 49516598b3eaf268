//! One admin change, as the audit trail keeps it: what was done to which entity, the
//! entity before and after (secrets left out), when, and from which address.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One admin change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Orders the trail (also the key's suffix).
    pub seq: u64,
    /// When, Unix ms.
    pub at_ms: u64,
    /// Who: the admin client's address, or `config` for what the config file seeded.
    pub from: String,
    /// What, as `<entity>.<verb>`: `account.create`, `routes.replace`, `account.credit`...
    pub action: String,
    /// Which entity (a system_id, a carrier id; empty for the route table).
    pub target: String,
    /// The entity before (null when created).
    pub before: Value,
    /// The entity after (null when deleted).
    pub after: Value,
}

impl AuditEntry {
    /// The entry as the admin API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "at": super::clock::rfc3339(self.at_ms),
            "from": self.from,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        })
    }
}

/// Removes every secret-looking field (`password`, `password_hash`, `key`, `secret`...)
/// from a JSON value, at any depth, so no audit entry ever holds one.
pub fn without_secrets(mut v: Value) -> Value {
    fn scrub(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    let k = k.to_ascii_lowercase();
                    !(k.contains("password")
                        || k.contains("secret")
                        || k == "key"
                        || k.ends_with("_key"))
                });
                m.values_mut().for_each(scrub);
            }
            Value::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    scrub(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_trail() {
        let v = json!({"system_id": "a", "password": "x", "password_hash": "$argon2",
            "nested": [{"webhook_secret": "s", "api_key": "k", "tps": 5}]});
        assert_eq!(
            without_secrets(v),
            json!({"system_id": "a", "nested": [{"tps": 5}]})
        );
    }
}
