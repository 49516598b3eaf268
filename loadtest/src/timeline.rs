//! Per-second figures of a run: what the plot draws, and how growth is judged (the rate
//! over the first and the last stretch of a long run).

use hdrhistogram::Histogram;

/// One second of a run, counted where the event was seen.
#[derive(Debug, Clone)]
pub struct Second {
    /// submit_sm_resp OK received.
    pub resps: u64,
    /// Receipts matched.
    pub receipts: u64,
    /// submit → resp of the responses in this second, microseconds.
    pub submit: Histogram<u64>,
    /// submit → receipt of the receipts in this second, microseconds.
    pub receipt: Histogram<u64>,
}

fn hist() -> Histogram<u64> {
    // two significant digits are plenty for a per-second curve
    Histogram::<u64>::new(2).unwrap_or_else(|_| unreachable!("2 significant digits is valid"))
}

impl Default for Second {
    fn default() -> Self {
        Second {
            resps: 0,
            receipts: 0,
            submit: hist(),
            receipt: hist(),
        }
    }
}

/// The seconds of a run, from its start.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Index = whole seconds since the start.
    pub seconds: Vec<Second>,
}

impl Timeline {
    fn at(&mut self, sec: usize) -> &mut Second {
        if self.seconds.len() <= sec {
            self.seconds.resize_with(sec + 1, Second::default);
        }
        &mut self.seconds[sec]
    }

    /// A response `us` microseconds after its submit, seen `sec` seconds into the run.
    pub fn resp(&mut self, sec: usize, us: u64) {
        let s = self.at(sec);
        s.resps += 1;
        let _ = s.submit.record(us);
    }

    /// A receipt `us` microseconds after its submit, seen `sec` seconds into the run.
    pub fn receipt(&mut self, sec: usize, us: u64) {
        let s = self.at(sec);
        s.receipts += 1;
        let _ = s.receipt.record(us);
    }

    /// Adds another session's timeline to this one.
    pub fn merge(&mut self, other: &Timeline) {
        for (i, o) in other.seconds.iter().enumerate() {
            let s = self.at(i);
            s.resps += o.resps;
            s.receipts += o.receipts;
            let _ = s.submit.add(&o.submit);
            let _ = s.receipt.add(&o.receipt);
        }
    }

    /// The second in which the `n`th receipt arrived (1-based), if it did.
    pub fn second_of_receipt(&self, n: u64) -> Option<usize> {
        let mut sum = 0;
        for (i, s) in self.seconds.iter().enumerate() {
            sum += s.receipts;
            if sum >= n {
                return Some(i);
            }
        }
        None
    }

    /// When the `n`th receipt arrived (1-based), in seconds since the start: receipts are
    /// taken as spread evenly over the second they were counted in.
    pub fn time_of_receipt(&self, n: u64) -> Option<f64> {
        let mut before = 0;
        for (i, s) in self.seconds.iter().enumerate() {
            if before + s.receipts >= n && s.receipts > 0 {
                return Some(i as f64 + (n - before) as f64 / s.receipts as f64);
            }
            before += s.receipts;
        }
        None
    }

    /// Receipts per second between receipt `from` and receipt `to` (1-based).
    pub fn rate_between(&self, from: u64, to: u64) -> Option<f64> {
        let (a, b) = (
            self.time_of_receipt(from.max(1))?,
            self.time_of_receipt(to)?,
        );
        (b > a).then(|| (to - from.max(1)) as f64 / (b - a))
    }

    /// Receipts per second over each whole 100,000 receipts of the run, in order: a run
    /// whose cost grows with what waits shows as a falling row.
    pub fn rate_per_100k(&self) -> Vec<f64> {
        let total: u64 = self.seconds.iter().map(|s| s.receipts).sum();
        (0..total / 100_000)
            .filter_map(|i| self.rate_between(i * 100_000 + 1, (i + 1) * 100_000))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_seconds_the_receipts_arrived_in() {
        let mut t = Timeline::default();
        for _ in 0..100 {
            t.receipt(0, 10);
        }
        for _ in 0..50 {
            t.receipt(2, 10);
        }
        assert_eq!(t.second_of_receipt(100), Some(0));
        assert_eq!(t.second_of_receipt(101), Some(2));
        assert_eq!(t.second_of_receipt(151), None);
        assert_eq!(t.time_of_receipt(100), Some(1.0));
        assert_eq!(t.time_of_receipt(125), Some(2.5));
        let close = |v: Option<f64>, want: f64| (v.unwrap() - want).abs() < 1e-6;
        assert!(close(t.rate_between(1, 100), 100.0));
        assert!(close(t.rate_between(101, 150), 50.0));
        assert!(t.rate_per_100k().is_empty());
        let mut u = Timeline::default();
        u.receipt(1, 5);
        t.merge(&u);
        assert_eq!(t.seconds[1].receipts, 1);
    }

    #[test]
    fn a_slowing_run_shows_as_a_falling_row() {
        let mut t = Timeline::default();
        // 100k in the first 5 s, the next 100k over 10 s
        for sec in 0..15 {
            let n = if sec < 5 { 20_000 } else { 10_000 };
            for _ in 0..n {
                t.receipt(sec, 1);
            }
        }
        let r = t.rate_per_100k();
        assert_eq!(r.len(), 2);
        assert!((r[0] - 20_000.0).abs() < 1.0, "{r:?}");
        assert!((r[1] - 10_000.0).abs() < 1.0, "{r:?}");
    }
}
