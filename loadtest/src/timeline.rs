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

    /// Receipts per second over the seconds in which receipts `from`..=`to` arrived
    /// (1-based, whole seconds, so the figure is good to about one second's share).
    pub fn rate_between(&self, from: u64, to: u64) -> Option<f64> {
        let a = self.second_of_receipt(from.max(1))?;
        let b = self.second_of_receipt(to)?;
        let n: u64 = self.seconds[a..=b].iter().map(|s| s.receipts).sum();
        Some(n as f64 / (b - a + 1) as f64)
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
        assert_eq!(t.rate_between(1, 100), Some(100.0));
        assert_eq!(t.rate_between(101, 150), Some(50.0));
        let mut u = Timeline::default();
        u.receipt(1, 5);
        t.merge(&u);
        assert_eq!(t.seconds[1].receipts, 1);
    }
}
