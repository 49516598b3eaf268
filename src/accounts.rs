//! Accounts as the running switch knows them: argon2 password hashes (never the clear
//! password), limits and price. The table is immutable and shared through a
//! `tokio::sync::watch` channel, so a change swaps the whole table at once.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::config::AccountConfig;
use crate::domain::money::{Micros, MoneyError};

/// One account's settings, without its balance (the Ledger owns balances).
#[derive(Debug, Clone)]
pub struct Account {
    /// SMPP system_id.
    pub system_id: String,
    /// argon2id PHC string of the password.
    pub password_hash: String,
    /// submit_sm per second across all binds.
    pub tps: u32,
    /// Binds at once.
    pub max_binds: u32,
    /// Price per part.
    pub price: Micros,
    /// Sender ids it may use; empty: any.
    pub allowed_sources: Vec<String>,
    /// Opening balance from the config (used when the store has none yet).
    pub opening_balance: Micros,
}

impl Account {
    /// May this account send from `source`?
    pub fn source_allowed(&self, source: &str) -> bool {
        self.allowed_sources.is_empty() || self.allowed_sources.iter().any(|s| s == source)
    }
}

/// All accounts by system_id.
pub type AccountTable = HashMap<String, Arc<Account>>;

/// Hashes a password with argon2id and a random salt. Slow by design: call it off the
/// actor threads (`spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC hash. Slow by design: call it off the actor threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, verified for unknown system_ids so that a failed login
/// takes as long whether or not the account exists.
pub fn decoy_hash() -> String {
    hash_password("\u{0}decoy\u{0}").unwrap_or_default()
}

/// Builds an account from its config entry, hashing the password (blocking).
pub fn from_config(c: &AccountConfig) -> Result<Account, MoneyError> {
    Ok(Account {
        system_id: c.system_id.clone(),
        password_hash: hash_password(&c.password).unwrap_or_default(),
        tps: c.tps,
        max_binds: c.max_binds,
        price: Micros::parse(&c.price)?,
        allowed_sources: c.allowed_sources.clone(),
        opening_balance: Micros::parse(&c.balance)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_never_hold_the_password() {
        let h = hash_password("demopass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("demopass"));
        assert!(verify_password("demopass", &h));
        assert!(!verify_password("demopas", &h));
        assert!(!verify_password("demopass", "not a hash"));
        assert!(!verify_password("", &decoy_hash()));
    }
}
