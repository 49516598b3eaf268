//! Passwords, tokens and password hashes: carried, compared and stored like strings, but
//! never shown. `Debug` prints `***`, and there is no `Display`, so a secret cannot reach a
//! log line, a panic message or an error by accident: code that needs the text calls
//! [`Secret::expose`], which is easy to find.

use serde::{Deserialize, Serialize};

/// A string that must not be shown.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The text itself, for the code that must use it (hashing, binding, comparing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (validation may say how long a secret is, never what it is).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_it_but_serde_and_expose_do() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Carrier {
            id: String,
            password: Secret,
        }
        let c: Carrier = serde_json::from_str(r#"{"id":"c1","password":"hunter2"}"#).unwrap();
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(c.password.expose(), "hunter2");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":"c1","password":"hunter2"}"#,
            "stored as it was given"
        );
    }
}
