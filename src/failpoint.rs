//! Named points where a test can make tern fail on purpose: panic, to prove that a crash
//! stays inside the actor it happens in, or get an I/O error from the disk, to prove that
//! the store never acknowledges what it could not write.
//!
//! `TERN_FAILPOINTS="carrier.submit_done=3,store.journal.sync=200:eio"` makes the 3rd pass
//! through `carrier.submit_done` panic, and the 200th journal fsync fail with EIO. A spec is
//! `name=N` (panic at the Nth pass), `name=N:eio` or `name=N:enospc` (that pass fails with
//! the error), `name=N+:enospc` (that pass and every later one fail: a disk that stays
//! full). Unset (production), a pass costs one load of an initialised `OnceLock`.

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms failpoints.
pub const ENV: &str = "TERN_FAILPOINTS";

/// What an armed point does when its pass comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Panic,
    /// Fail with this errno.
    Errno(i32),
}

#[derive(Debug)]
struct Point {
    name: String,
    /// Passes left before the point fires (it fires on the pass that takes it to 0).
    left: AtomicU64,
    action: Action,
    /// Fires on every pass from then on, not only once.
    sticky: bool,
}

/// A set of armed points. Production uses the process-wide [`global`] set; a test may give
/// the store its own.
#[derive(Debug, Default)]
pub struct Failpoints {
    points: Vec<Point>,
}

/// No point armed: a store that never fails on purpose.
pub static NONE: Failpoints = Failpoints { points: Vec::new() };

impl Failpoints {
    /// Points from a spec (see the module doc); malformed entries are ignored.
    pub fn parse(spec: &str) -> Failpoints {
        let points = spec
            .split(',')
            .filter_map(|p| {
                let (name, rest) = p.trim().split_once('=')?;
                let (count, action) = match rest.split_once(':') {
                    Some((c, "eio")) => (c, Action::Errno(libc_errno::EIO)),
                    Some((c, "enospc")) => (c, Action::Errno(libc_errno::ENOSPC)),
                    Some(_) => return None,
                    None => (rest, Action::Panic),
                };
                let (count, sticky) = match count.trim().strip_suffix('+') {
                    Some(c) => (c, true),
                    None => (count, false),
                };
                let n: u64 = count.trim().parse().ok()?;
                Some(Point {
                    name: name.trim().to_string(),
                    left: AtomicU64::new(n.max(1)),
                    action,
                    sticky,
                })
            })
            .collect();
        Failpoints { points }
    }

    /// Points from `spec` that live as long as the process (a test's own store).
    pub fn leak(spec: &str) -> &'static Failpoints {
        Box::leak(Box::new(Failpoints::parse(spec)))
    }

    /// Whether any point is armed.
    pub fn armed(&self) -> bool {
        !self.points.is_empty()
    }

    /// The action of `name` if this pass fires it. Every point of that name counts the
    /// pass (two points may share a name to fire at two passes).
    fn fire(&self, name: &str) -> Option<Action> {
        let mut fired = None;
        for p in self.points.iter().filter(|p| p.name == name) {
            let left = p
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                    // a sticky point stays at 1 once it got there: it fires every time
                    if p.sticky && l <= 1 {
                        Some(1)
                    } else {
                        l.checked_sub(1)
                    }
                })
                .ok();
            if left == Some(1) && fired.is_none() {
                fired = Some(p.action);
            }
        }
        fired
    }

    /// A pass through the point `name`: panics if it is armed to panic and this is its pass.
    pub fn hit(&self, name: &str) {
        if self.fire(name) == Some(Action::Panic) {
            panic!("failpoint {name}");
        }
    }

    /// A pass through the I/O point `name`: the error it is armed with, if this is its pass.
    pub fn io(&self, name: &str) -> io::Result<()> {
        match self.fire(name) {
            Some(Action::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
            Some(Action::Panic) => panic!("failpoint {name}"),
            None => Ok(()),
        }
    }
}

/// The errno values failpoints use (Linux numbering, which every platform tern runs on
/// shares for these two).
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
}

/// The process-wide points, from [`ENV`].
pub fn global() -> &'static Failpoints {
    static POINTS: OnceLock<Failpoints> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(ENV)
            .map(|v| Failpoints::parse(&v))
            .unwrap_or_default()
    })
}

/// Whether any process-wide point is armed (logged at start: a production switch has none).
pub fn armed() -> bool {
    global().armed()
}

/// A pass through the process-wide point `name` (see [`Failpoints::hit`]).
pub fn hit(name: &str) {
    global().hit(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_points_passes_and_actions() {
        let p = Failpoints::parse("a.b=3, c=1,bad,d=x,e=2:eio,f=1+:enospc,g=1:what");
        let got: Vec<_> = p
            .points
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.left.load(Ordering::Relaxed),
                    p.action,
                    p.sticky,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.b", 3, Action::Panic, false),
                ("c", 1, Action::Panic, false),
                ("e", 2, Action::Errno(libc_errno::EIO), false),
                ("f", 1, Action::Errno(libc_errno::ENOSPC), true),
            ]
        );
    }

    #[test]
    fn an_error_fires_once_at_its_pass_or_for_good_when_sticky() {
        let p = Failpoints::parse("once=2:eio,full=2+:enospc");
        let passes = |name: &str| -> Vec<bool> { (0..4).map(|_| p.io(name).is_err()).collect() };
        assert_eq!(passes("once"), [false, true, false, false]);
        assert_eq!(passes("full"), [false, true, true, true]);
        assert_eq!(
            p.io("full").unwrap_err().raw_os_error(),
            Some(libc_errno::ENOSPC)
        );
        assert!(p.io("other").is_ok());
    }

    #[test]
    #[should_panic(expected = "failpoint boom")]
    fn a_panic_point_panics_at_its_pass() {
        let p = Failpoints::parse("boom=2");
        p.hit("boom");
        p.hit("boom");
    }
}
