//! Exponential backoff with full jitter, for reconnects and retries.

use std::time::Duration;

/// Exponential backoff: base × 2^attempt, capped, with jitter in [delay/2, delay].
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The un-jittered delay for the current attempt.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Next delay; `jitter` in [0, 1] picks where in [ceiling/2, ceiling] it falls.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let c = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        c.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// After a success: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_cap_with_jitter_bounds() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(500));
        assert_eq!(b.next_delay(1.0), Duration::from_secs(1));
        assert_eq!(b.next_delay(0.0), Duration::from_secs(1));
        for _ in 0..30 {
            let d = b.next_delay(1.0);
            assert!(d <= Duration::from_secs(60));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }
}
