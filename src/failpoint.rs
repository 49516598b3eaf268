//! Named points where a test can make tern panic, to prove that a crash stays inside the
//! actor it happens in. `TERN_FAILPOINTS="carrier.submit_done=3,ledger.accept=10"` makes
//! the 3rd pass through `carrier.submit_done` panic, once, and the 10th through
//! `ledger.accept`. Unset (production), a pass costs one load of an initialised `OnceLock`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms failpoints.
pub const ENV: &str = "TERN_FAILPOINTS";

struct Point {
    name: String,
    /// Passes left before the panic (the panic is on the pass that takes it to 0).
    left: AtomicU64,
}

fn points() -> &'static [Point] {
    static POINTS: OnceLock<Vec<Point>> = OnceLock::new();
    POINTS.get_or_init(|| std::env::var(ENV).map(|v| parse(&v)).unwrap_or_default())
}

fn parse(spec: &str) -> Vec<Point> {
    spec.split(',')
        .filter_map(|p| {
            let (name, n) = p.trim().split_once('=')?;
            let n: u64 = n.trim().parse().ok()?;
            Some(Point {
                name: name.trim().to_string(),
                left: AtomicU64::new(n.max(1)),
            })
        })
        .collect()
}

/// Whether any failpoint is armed (logged at start: a production switch has none).
pub fn armed() -> bool {
    !points().is_empty()
}

/// A pass through the point `name`: panics if it is armed and this is its pass.
pub fn hit(name: &str) {
    for p in points() {
        if p.name == name
            && p.left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                == Ok(1)
        {
            panic!("failpoint {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_points_and_passes() {
        let p = parse("a.b=3, c=1,bad,d=x");
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.left.load(Ordering::Relaxed)))
            .collect();
        assert_eq!(got, [("a.b", 3), ("c", 1)]);
    }
}
