//! Open SMPP connections against `max_connections`. Each accepted connection holds a
//! [`ConnectionSlot`] for its whole life; one past the limit gets none and is closed at
//! once, before it costs a session, so a flood of idle sockets cannot take the file
//! descriptors and memory the bound ESMEs need.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The open-connection count and its limit; cheap to clone.
#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open connection; the count goes down when it is dropped.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Connections {
    /// At most `max` open at once.
    pub fn new(max: usize) -> Connections {
        Connections {
            open: Arc::default(),
            max,
        }
    }

    /// A slot for a new connection, or `None` when `max` are open.
    pub fn take(&self) -> Option<ConnectionSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(self.open.clone()))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_at_the_limit_and_come_back_when_dropped() {
        let c = Connections::new(2);
        let a = c.take().expect("first");
        let _b = c.take().expect("second");
        assert!(c.take().is_none(), "the third is refused");
        assert_eq!(c.open(), 2);
        drop(a);
        assert!(c.take().is_some(), "a closed connection frees its slot");
    }
}
