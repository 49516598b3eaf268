//! Which peer addresses an account may bind (or call the API) from: its `allowed_ips`, a
//! list of CIDRs or single addresses. Empty allows any address.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// An account's allowed source networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList {
    nets: Vec<IpNet>,
    /// Allow nobody (a stored list that no longer parses: fail closed).
    closed: bool,
}

impl IpAllowList {
    /// Parses `list` ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"); the error names the
    /// first entry that is neither a CIDR nor an address.
    pub fn parse(list: &[String]) -> Result<IpAllowList, String> {
        let nets = list
            .iter()
            .map(|s| {
                let s = s.trim();
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| format!("{s:?} is not a CIDR (10.0.0.0/8) or an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpAllowList {
            nets,
            closed: false,
        })
    }

    /// A list that allows nobody.
    pub fn closed() -> IpAllowList {
        IpAllowList {
            nets: Vec::new(),
            closed: true,
        }
    }

    /// May a peer at `ip` come in? An IPv4 peer seen on an IPv6 socket (`::ffff:a.b.c.d`)
    /// counts as its IPv4 address.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.closed {
            return false;
        }
        let ip = ip.to_canonical();
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> IpAllowList {
        IpAllowList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_allows_anyone_and_closed_nobody() {
        assert!(list(&[]).allows(ip("203.0.113.9")));
        assert!(!IpAllowList::closed().allows(ip("127.0.0.1")));
    }

    #[test]
    fn cidrs_and_single_addresses_match_their_peers() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
        assert!(l.allows(ip("10.200.1.1")));
        assert!(l.allows(ip("192.0.2.7")));
        assert!(!l.allows(ip("192.0.2.8")));
        assert!(l.allows(ip("2001:db8::1")));
        assert!(!l.allows(ip("11.0.0.1")));
        assert!(l.allows(ip("::ffff:10.1.2.3")), "v4 peer on a v6 socket");
        // host bits set in the CIDR are ignored, as ip(8) does
        assert!(list(&["10.1.2.3/8"]).allows(ip("10.9.9.9")));
    }

    #[test]
    fn a_bad_entry_is_named() {
        let e = IpAllowList::parse(&["10.0.0.0/8".into(), "10.0.0.0/33".into()]).unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        assert!(IpAllowList::parse(&["example.com".into()]).is_err());
    }
}
