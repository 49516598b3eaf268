//! Accounts as the running switch knows them: argon2 password hashes (never the clear
//! password), limits and price. The table is immutable and shared through a
//! `tokio::sync::watch` channel, so a change swaps the whole table at once.

use crate::domain::ip_allow::IpAllowList;
use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::domain::money::Micros;

/// One account's settings, without its balance (the Ledger owns balances).
#[derive(Debug, Clone)]
pub struct Account {
    /// SMPP system_id.
    pub system_id: String,
    /// argon2id PHC string of the password.
    pub password_hash: Secret,
    /// submit_sm per second across all binds.
    pub tps: u32,
    /// Binds at once.
    pub max_binds: u32,
    /// Price per part.
    pub price: Micros,
    /// Sender ids it may use; empty: any.
    pub allowed_sources: Vec<String>,
    /// Peer addresses it may bind from; empty: any.
    pub allowed_ips: IpAllowList,
    /// Whether a message a carrier refuses for good (REJECTD) is refunded.
    pub refund_rejected: bool,
    /// Where its webhooks go when a message names no `callback_url`.
    pub webhook_url: Option<String>,
    /// The MO texts that opt a handset out of (or back into) its messages.
    pub keywords: crate::domain::mo::Keywords,
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
pub fn hash_password(password: &str) -> Result<Secret, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| Secret::new(h.to_string()))
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
pub fn decoy_hash() -> Secret {
    hash_password("\u{0}decoy\u{0}").unwrap_or_default()
}

/// The longest webhook URL an account or a message may name.
pub const MAX_WEBHOOK_URL: usize = 2048;

/// A webhook URL as tern can POST to it: `http://` or `https://` with a host, at most
/// [`MAX_WEBHOOK_URL`] characters. Empty means none.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    // the parser tern's HTTP client uses: what passes here can be sent to
    let parsed = url.parse::<actix_web::http::Uri>().ok();
    let ok = url.len() <= MAX_WEBHOOK_URL
        && parsed.is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some_and(|h| !h.is_empty())
        })
        && crate::domain::webhook::endpoint(url).is_some();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "an http:// or https:// URL with a host, at most {MAX_WEBHOOK_URL} characters"
        ))
    }
}

/// An account's fields as the config file or the admin API give them, to be checked
/// the same way in both.
pub struct Fields<'a> {
    /// SMPP system_id.
    pub system_id: &'a str,
    /// The password, when one is given.
    pub password: Option<&'a str>,
    /// submit_sm per second.
    pub tps: u32,
    /// Binds at once.
    pub max_binds: u32,
    /// Opening balance, when one is given.
    pub balance: Option<&'a str>,
    /// Price per part.
    pub price: &'a str,
    /// CIDRs it may bind from.
    pub allowed_ips: &'a [String],
    /// Webhook URL; empty: none.
    pub webhook_url: &'a str,
    /// Its own opt-out keywords; empty: the defaults.
    pub opt_out_keywords: &'a [String],
    /// Its own opt-in keywords; empty: the defaults.
    pub opt_in_keywords: &'a [String],
}

impl<'a> Fields<'a> {
    /// Only a new password, to check it alone.
    pub fn password_only(system_id: &'a str, password: &'a str) -> Fields<'a> {
        Fields {
            system_id,
            password: Some(password),
            tps: 1,
            max_binds: 1,
            balance: None,
            price: "0",
            allowed_ips: &[],
            webhook_url: "",
            opt_out_keywords: &[],
            opt_in_keywords: &[],
        }
    }

    /// Every problem, as (field, what is wrong).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let id = self.system_id;
        // '/' separates the parts of store keys (l/<account>/...): never in an id
        if id.is_empty() || id.len() > 15 || !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
        {
            out.push((
                "system_id",
                format!("{id:?} must be 1-15 printable ASCII characters, no '/'"),
            ));
        }
        if let Some(pw) = self.password
            && (pw.is_empty() || pw.len() > 8 || !pw.is_ascii())
        {
            out.push((
                "password",
                "SMPP 3.4 allows 1 to 8 ASCII characters".to_string(),
            ));
        }
        if self.tps == 0 {
            out.push(("tps", "must be at least 1".into()));
        }
        if self.max_binds == 0 {
            out.push(("max_binds", "must be at least 1".into()));
        }
        match self.balance.map(Micros::parse) {
            Some(Err(e)) => out.push(("balance", e.to_string())),
            Some(Ok(m)) if m.0 < 0 => out.push(("balance", "must not be negative".into())),
            _ => {}
        }
        if let Err(e) = IpAllowList::parse(self.allowed_ips) {
            out.push(("allowed_ips", e));
        }
        match Micros::parse(self.price) {
            Err(e) => out.push(("price", e.to_string())),
            Ok(m) if m.0 < 0 => out.push(("price", "must not be negative".into())),
            Ok(_) => {}
        }
        if let Err(e) = check_webhook_url(self.webhook_url) {
            out.push(("webhook_url", e));
        }
        if let Err(e) =
            crate::domain::mo::Keywords::check(self.opt_out_keywords, self.opt_in_keywords)
        {
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_never_hold_the_password() {
        let h = hash_password("demopass").unwrap();
        let h = h.expose();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("demopass"));
        assert!(verify_password("demopass", h));
        assert!(!verify_password("demopas", h));
        assert!(!verify_password("demopass", "not a hash"));
        assert!(!verify_password("", decoy_hash().expose()));
    }

    #[test]
    fn webhook_urls_are_http_with_a_host() {
        assert!(check_webhook_url("").is_ok(), "empty: none");
        assert!(check_webhook_url("https://example.com/dlr?x=1").is_ok());
        assert!(check_webhook_url("http://10.0.0.1:8080").is_ok());
        for bad in [
            "ftp://example.com",
            "https://",
            "example.com/dlr",
            "http://a b/",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_WEBHOOK_URL));
        assert!(check_webhook_url(&long).is_err());
    }

    #[test]
    fn fields_name_what_is_wrong() {
        let ok = Fields {
            system_id: "acme",
            password: Some("secret"),
            tps: 10,
            max_binds: 2,
            balance: Some("10.00"),
            price: "0.01",
            allowed_ips: &[],
            webhook_url: "",
            opt_out_keywords: &[],
            opt_in_keywords: &[],
        };
        assert!(ok.problems().is_empty());
        assert_eq!(
            Fields {
                system_id: "a/b",
                ..ok
            }
            .problems()[0]
                .0,
            "system_id",
            "a '/' would mix two accounts' keys"
        );
        let bad = Fields {
            system_id: "a b",
            password: Some("toolongpw"),
            tps: 0,
            max_binds: 0,
            balance: Some("ten"),
            price: "-1",
            allowed_ips: &[],
            webhook_url: "",
            opt_out_keywords: &[],
            opt_in_keywords: &["".to_string()],
        };
        let fields: Vec<&str> = bad.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            [
                "system_id",
                "password",
                "tps",
                "max_binds",
                "balance",
                "price",
                "opt_in_keywords"
            ]
        );
    }
}
