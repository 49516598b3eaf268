//! The route table: longest destination prefix wins, its carriers are tried in order.

use std::collections::HashMap;
use std::sync::Arc;

/// One route: destinations starting with `prefix` go to `carriers`, first healthy one first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    /// Digits the destination starts with; `""` matches every destination.
    pub prefix: String,
    /// Carrier ids, in the order they are tried.
    pub carriers: Vec<String>,
}

/// Why a route table was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Prefix with something other than digits.
    #[error("route prefix {0:?} must be digits")]
    BadPrefix(String),
    /// The same prefix twice.
    #[error("route prefix {0:?} appears twice")]
    Duplicate(String),
    /// A route with no carriers.
    #[error("route {0:?} has no carriers")]
    NoCarriers(String),
    /// A carrier id that is not configured.
    #[error("route {0:?} names unknown carrier {1:?}")]
    UnknownCarrier(String, String),
}

/// An immutable, validated route table. Swapped whole when routes change.
#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    by_prefix: HashMap<String, Arc<[String]>>,
    max_len: usize,
    routes: Vec<Route>,
}

impl RouteTable {
    /// Validates `routes` against the known carrier ids and builds the table.
    pub fn new(
        routes: Vec<Route>,
        known_carrier: impl Fn(&str) -> bool,
    ) -> Result<Self, RouteError> {
        let mut by_prefix = HashMap::new();
        let mut max_len = 0;
        for r in &routes {
            let p = r.prefix.strip_prefix('+').unwrap_or(&r.prefix);
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RouteError::BadPrefix(r.prefix.clone()));
            }
            if r.carriers.is_empty() {
                return Err(RouteError::NoCarriers(r.prefix.clone()));
            }
            if let Some(c) = r.carriers.iter().find(|c| !known_carrier(c)) {
                return Err(RouteError::UnknownCarrier(r.prefix.clone(), c.clone()));
            }
            if by_prefix
                .insert(p.to_string(), Arc::from(r.carriers.clone()))
                .is_some()
            {
                return Err(RouteError::Duplicate(r.prefix.clone()));
            }
            max_len = max_len.max(p.len());
        }
        Ok(RouteTable {
            by_prefix,
            max_len,
            routes,
        })
    }

    /// The carriers for a destination (digits, no `+`), longest prefix first; `None`: no route.
    pub fn lookup(&self, dest: &str) -> Option<Arc<[String]>> {
        let n = dest.len().min(self.max_len);
        (0..=n)
            .rev()
            .find_map(|l| dest.get(..l).and_then(|p| self.by_prefix.get(p)).cloned())
    }

    /// The routes as configured.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str, c: &[&str]) -> Route {
        Route {
            prefix: p.into(),
            carriers: c.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = RouteTable::new(
            vec![r("", &["a"]), r("49", &["b"]), r("4917", &["c", "a"])],
            |_| true,
        )
        .unwrap();
        assert_eq!(
            &*t.lookup("491701234567").unwrap(),
            &["c".to_string(), "a".to_string()]
        );
        assert_eq!(&*t.lookup("491601234567").unwrap(), &["b".to_string()]);
        assert_eq!(&*t.lookup("331234").unwrap(), &["a".to_string()]);
    }

    #[test]
    fn no_default_route_means_no_route() {
        let t = RouteTable::new(vec![r("44", &["a"])], |_| true).unwrap();
        assert!(t.lookup("491701234567").is_none());
        assert!(t.lookup("4").is_none());
        assert!(t.lookup("447700900123").is_some());
    }

    #[test]
    fn validation() {
        assert_eq!(
            RouteTable::new(vec![r("4x", &["a"])], |_| true).unwrap_err(),
            RouteError::BadPrefix("4x".into())
        );
        assert_eq!(
            RouteTable::new(vec![r("4", &[])], |_| true).unwrap_err(),
            RouteError::NoCarriers("4".into())
        );
        assert_eq!(
            RouteTable::new(vec![r("4", &["a"]), r("4", &["b"])], |_| true).unwrap_err(),
            RouteError::Duplicate("4".into())
        );
        assert_eq!(
            RouteTable::new(vec![r("4", &["zz"])], |c| c == "a").unwrap_err(),
            RouteError::UnknownCarrier("4".into(), "zz".into())
        );
    }
}
