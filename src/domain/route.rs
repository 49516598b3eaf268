//! The route table: longest destination prefix wins. Its carriers are tried in order, or,
//! when the route has `weights`, the first is drawn by weight (from the message id, so a
//! retry draws the same) and the others follow in order as failover. A carrier that is down
//! or whose breaker is open refuses at once, so a weighted route splits traffic over the
//! healthy carriers.

use std::collections::HashMap;
use std::sync::Arc;

/// One route: destinations starting with `prefix` go to `carriers`, first healthy one first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Digits the destination starts with; `""` matches every destination.
    pub prefix: String,
    /// Carrier ids, in the order they are tried.
    pub carriers: Vec<String>,
    /// One weight per carrier: the share of new messages each takes first. A carrier of
    /// weight 0 only takes over from the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<u32>>,
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
    /// The same carrier twice in one route.
    #[error("route {0:?} names carrier {1:?} twice")]
    RepeatedCarrier(String, String),
    /// Weights that are not one per carrier, or all zero.
    #[error("route {0:?}: weights must be one per carrier and not all 0")]
    BadWeights(String),
}

/// What a prefix routes to: its carriers, tried in order or split by weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    carriers: Vec<String>,
    /// Running sums of the weights (empty: ordered failover).
    cumulative: Vec<u64>,
}

impl RouteEntry {
    /// Its carriers, in the order they are tried.
    pub fn carriers(&self) -> &[String] {
        &self.carriers
    }

    fn new(r: &Route) -> Self {
        let cumulative = r
            .weights
            .iter()
            .flatten()
            .scan(0u64, |sum, w| {
                *sum += u64::from(*w);
                Some(*sum)
            })
            .collect();
        RouteEntry {
            carriers: r.carriers.clone(),
            cumulative,
        }
    }

    /// How many carriers a message may be tried on in one pass.
    pub fn len(&self) -> usize {
        self.carriers.len()
    }

    /// Never true: a route has at least one carrier.
    pub fn is_empty(&self) -> bool {
        self.carriers.is_empty()
    }

    /// The carrier a message whose id hashes to `key` tries at position `pos` of a pass:
    /// the carriers in order, or, weighted, the one drawn by weight first and the others
    /// in order after it.
    pub fn carrier_at(&self, pos: usize, key: u64) -> Option<&str> {
        let Some(total) = self.cumulative.last().copied().filter(|t| *t > 0) else {
            return self.carriers.get(pos).map(String::as_str);
        };
        let draw = key % total;
        let first = self.cumulative.iter().position(|c| draw < *c).unwrap_or(0);
        let i = match pos {
            0 => first,
            p if p <= first => p - 1,
            p => p,
        };
        self.carriers.get(i).map(String::as_str)
    }

    /// The carriers new messages go to first (for flow control: while all of them are
    /// backlogged, the route is).
    pub fn first_choices(&self) -> impl Iterator<Item = &str> {
        let weighted = !self.cumulative.is_empty();
        let mut prev = 0;
        self.carriers
            .iter()
            .enumerate()
            .filter(move |(i, _)| {
                if !weighted {
                    return *i == 0;
                }
                let share = self.cumulative[*i] - prev;
                prev = self.cumulative[*i];
                share > 0
            })
            .map(|(_, c)| c.as_str())
    }
}

/// The key a message's weighted draw is made with.
pub fn draw_key(message_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ("route", message_id).hash(&mut h);
    h.finish()
}

/// An immutable, validated route table. Swapped whole when routes change.
#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    by_prefix: HashMap<String, Arc<RouteEntry>>,
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
            if let Some((_, c)) = r
                .carriers
                .iter()
                .enumerate()
                .find(|(i, c)| r.carriers[..*i].contains(c))
            {
                return Err(RouteError::RepeatedCarrier(r.prefix.clone(), c.clone()));
            }
            if let Some(w) = &r.weights
                && (w.len() != r.carriers.len() || w.iter().all(|w| *w == 0))
            {
                return Err(RouteError::BadWeights(r.prefix.clone()));
            }
            if by_prefix
                .insert(p.to_string(), Arc::new(RouteEntry::new(r)))
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

    /// The route for a destination (digits, no `+`), longest prefix first; `None`: no route.
    pub fn lookup(&self, dest: &str) -> Option<Arc<RouteEntry>> {
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
            weights: None,
        }
    }

    fn weighted(p: &str, c: &[&str], w: &[u32]) -> Route {
        Route {
            weights: Some(w.to_vec()),
            ..r(p, c)
        }
    }

    /// The whole order a message with `key` tries.
    fn order(e: &RouteEntry, key: u64) -> Vec<&str> {
        (0..e.len()).map_while(|p| e.carrier_at(p, key)).collect()
    }

    #[test]
    fn longest_prefix_wins() {
        let t = RouteTable::new(
            vec![r("", &["a"]), r("49", &["b"]), r("4917", &["c", "a"])],
            |_| true,
        )
        .unwrap();
        assert_eq!(order(&t.lookup("491701234567").unwrap(), 7), ["c", "a"]);
        assert_eq!(order(&t.lookup("491601234567").unwrap(), 7), ["b"]);
        assert_eq!(order(&t.lookup("331234").unwrap(), 7), ["a"]);
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
        assert_eq!(
            RouteTable::new(vec![r("4", &["a", "b", "a"])], |_| true).unwrap_err(),
            RouteError::RepeatedCarrier("4".into(), "a".into())
        );
        for w in [&[1][..], &[1, 2, 3], &[0, 0]] {
            assert_eq!(
                RouteTable::new(vec![weighted("4", &["a", "b"], w)], |_| true).unwrap_err(),
                RouteError::BadWeights("4".into()),
                "{w:?}"
            );
        }
    }

    #[test]
    fn weights_split_first_choices_and_the_rest_fail_over_in_order() {
        let t =
            RouteTable::new(vec![weighted("", &["a", "b", "c"], &[70, 30, 0])], |_| true).unwrap();
        let e = t.lookup("4917").unwrap();
        let mut firsts = HashMap::new();
        for i in 0..10_000 {
            let o = order(&e, draw_key(&format!("msg-{i}")));
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, ["a", "b", "c"], "every carrier once per pass");
            *firsts.entry(o[0]).or_insert(0) += 1;
            // the ones not drawn keep their configured order
            let rest: Vec<_> = ["a", "b", "c"].into_iter().filter(|c| *c != o[0]).collect();
            assert_eq!(o[1..], rest[..]);
        }
        let a = firsts["a"];
        assert!((6_500..7_500).contains(&a), "a first {a} of 10,000");
        assert!(!firsts.contains_key("c"), "weight 0 is never first");
        assert_eq!(e.first_choices().collect::<Vec<_>>(), ["a", "b"]);
        // the same message draws the same carrier on every retry
        let k = draw_key("msg-42");
        assert_eq!(order(&e, k), order(&e, k));
    }

    #[test]
    fn an_ordered_route_sends_new_messages_to_its_first_carrier() {
        let t = RouteTable::new(vec![r("", &["a", "b"])], |_| true).unwrap();
        let e = t.lookup("1").unwrap();
        assert_eq!(e.first_choices().collect::<Vec<_>>(), ["a"]);
        assert_eq!(e.carrier_at(2, 0), None);
    }
}
