//! Bind lockout: `bind_failures_before_lockout` failed binds from one IP address within
//! `lockout_s` lock that address out for `lockout_s`: its binds are refused before any
//! password is checked, a right one included. A password-guessing client then costs tern
//! nothing, and learns nothing.
//!
//! Memory is bounded: at most [`MAX_PEERS`] addresses are tracked; when that many are, the
//! ones whose window has passed go, and a new address beyond the bound is not tracked (it
//! still pays for argon2 on every try).

use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses tracked at most.
pub const MAX_PEERS: usize = 100_000;

/// Failures and lockouts by peer address.
#[derive(Debug)]
pub struct Lockout {
    /// Failures that lock an address out (0: never).
    limit: u32,
    /// The failure window and the lockout, ms.
    span_ms: u64,
    peers: HashMap<IpAddr, Peer>,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    failures: u32,
    /// When the first failure of the current window was.
    since_ms: u64,
    /// Locked out until then (0: not locked).
    until_ms: u64,
}

impl Lockout {
    /// Locks an address out for `span_ms` after `limit` failures within `span_ms`.
    pub fn new(limit: u32, span_ms: u64) -> Lockout {
        Lockout {
            limit,
            span_ms,
            peers: HashMap::new(),
        }
    }

    /// Whether binds from `ip` are refused now.
    pub fn locked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.peers
            .get(&ip.to_canonical())
            .is_some_and(|p| p.until_ms > now_ms)
    }

    /// Counts a failed bind from `ip`; true when it locks the address out.
    pub fn failed(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if self.limit == 0 {
            return false;
        }
        let ip = ip.to_canonical();
        if !self.peers.contains_key(&ip) && self.peers.len() >= MAX_PEERS {
            let span = self.span_ms;
            self.peers
                .retain(|_, p| p.until_ms > now_ms || now_ms < p.since_ms.saturating_add(span));
            if self.peers.len() >= MAX_PEERS {
                return false;
            }
        }
        let p = self.peers.entry(ip).or_insert(Peer {
            failures: 0,
            since_ms: now_ms,
            until_ms: 0,
        });
        if now_ms >= p.since_ms.saturating_add(self.span_ms) {
            // the window passed: count afresh
            *p = Peer {
                failures: 0,
                since_ms: now_ms,
                until_ms: p.until_ms,
            };
        }
        p.failures += 1;
        if p.failures >= self.limit && p.until_ms <= now_ms {
            p.until_ms = now_ms.saturating_add(self.span_ms);
            p.failures = 0;
            p.since_ms = now_ms;
            return true;
        }
        false
    }

    /// A bind from `ip` succeeded: its failures are forgiven (a lockout stands).
    pub fn succeeded(&mut self, ip: IpAddr, now_ms: u64) {
        let ip = ip.to_canonical();
        if self.peers.get(&ip).is_some_and(|p| p.until_ms <= now_ms) {
            self.peers.remove(&ip);
        }
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_nth_failure_within_the_window_locks_the_address_for_the_span() {
        let mut l = Lockout::new(3, 1000);
        let a = ip("192.0.2.1");
        assert!(!l.failed(a, 0));
        assert!(!l.failed(a, 100));
        assert!(!l.locked(a, 200));
        assert!(l.failed(a, 200), "the third failure locks");
        assert!(l.locked(a, 201));
        assert!(l.locked(a, 1199));
        assert!(!l.locked(a, 1200), "for the span only");
        assert!(!l.locked(ip("192.0.2.2"), 500), "other addresses are not");
        assert!(
            l.locked(ip("::ffff:192.0.2.1"), 500),
            "the same address on a v6 socket"
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_lock() {
        let mut l = Lockout::new(3, 1000);
        let a = ip("192.0.2.1");
        for t in [0, 600, 1200, 1800, 2400] {
            assert!(!l.failed(a, t), "at {t}");
        }
        assert!(!l.locked(a, 2500));
    }

    #[test]
    fn a_good_bind_forgives_failures_but_not_a_lockout() {
        let mut l = Lockout::new(2, 1000);
        let a = ip("192.0.2.1");
        l.failed(a, 0);
        l.succeeded(a, 10);
        assert!(!l.failed(a, 20), "counting starts again");
        assert!(l.failed(a, 30));
        l.succeeded(a, 40);
        assert!(l.locked(a, 50), "a lockout stands");
    }

    #[test]
    fn zero_means_never_and_memory_is_bounded() {
        let mut l = Lockout::new(0, 1000);
        assert!(!l.failed(ip("192.0.2.1"), 0));
        assert_eq!(l.tracked(), 0);
        let mut l = Lockout::new(5, 1000);
        for i in 0..(MAX_PEERS as u32 + 10) {
            l.failed(IpAddr::from(i.to_be_bytes()), 0);
        }
        assert_eq!(
            l.tracked(),
            MAX_PEERS,
            "new addresses past the bound are not kept"
        );
        // once their window passed, old entries make room
        l.failed(ip("198.51.100.1"), 5000);
        assert_eq!(l.tracked(), 1);
    }
}
