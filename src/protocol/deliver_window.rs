//! A carrier bind's deliver_sm window: how many receipts and MO it has handed on to be
//! stored and not yet answered, those read beyond that waiting in order, and a read side
//! that stops reading only when far too many are read and unanswered.
//!
//! A carrier that batches its receipts sends thousands of deliver_sm at once. Handed on as
//! they are read, they all reach the correlator, delivery and the store together: one
//! store group of thousands, and every submit_sm behind it waits (submit → resp p99 of
//! 22–50 ms at 10k msg/s, loadtest/README.md). With a window, one more is handed on as each
//! is stored, so the burst goes through in small commits and submits interleave with it.
//! Receipts have seconds to spare; submits do not.
//!
//! The bind keeps reading meanwhile: the same socket carries the carrier's submit_sm_resps,
//! and a bind that stopped reading while receipts waited stalled its own submits (pausing
//! reads cut throughput by a third, loadtest/README.md). Only [`READ_AHEAD`] read and
//! unanswered stop it, the bound on memory when a carrier sends faster than tern can store
//! for long. The window cannot deadlock with the carrier: it opens as tern's own store
//! answers, whatever the carrier reads or writes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use futures::task::AtomicWaker;

/// deliver_sm a carrier bind has handed on to be stored and not yet answered, at least and
/// at most. Between, a bind hands on as many as it has submit_sm in flight: each receipt
/// answers a submit, so receipts are stored as fast as submits go out at any load (a fixed
/// window of 32 let them fall behind at full load), while a burst beyond that waits its
/// turn (loadtest/README.md, "Receipt timing").
pub const DELIVER_WINDOW: std::ops::RangeInclusive<usize> = 32..=1024;

/// deliver_sm a bind has read and not answered (handed on or waiting), at most, before it
/// stops reading.
pub const READ_AHEAD: usize = 65_536;

/// One connection's deliver_sm: those handed on, those waiting to be (`T`, in order), and
/// the count its read side watches.
pub struct DeliverWindow<T> {
    handed_on: usize,
    waiting: VecDeque<T>,
    read: Arc<ReadCount>,
}

/// deliver_sm read and not answered, shared with the read side.
struct ReadCount {
    limit: usize,
    open: AtomicUsize,
    reader: AtomicWaker,
    /// The read side stopped since the bind last asked ([`DeliverWindow::stopped`]).
    stopped: std::sync::atomic::AtomicBool,
}

impl ReadCount {
    fn is_full(&self) -> bool {
        self.open.load(Ordering::Acquire) >= self.limit
    }
}

impl<T> DeliverWindow<T> {
    /// Reads ahead `read_ahead` at most.
    pub fn new(read_ahead: usize) -> Self {
        DeliverWindow {
            handed_on: 0,
            waiting: VecDeque::new(),
            read: Arc::new(ReadCount {
                limit: read_ahead.max(1),
                open: AtomicUsize::new(0),
                reader: AtomicWaker::new(),
                stopped: Default::default(),
            }),
        }
    }

    /// A deliver_sm was read: it waits its turn.
    pub fn read(&mut self, pdu: T) {
        self.read.open.fetch_add(1, Ordering::AcqRel);
        self.waiting.push_back(pdu);
    }

    /// The next deliver_sm to hand on, while fewer than `window` (within
    /// [`DELIVER_WINDOW`]) are out.
    pub fn next(&mut self, window: usize) -> Option<T> {
        let window = window.clamp(*DELIVER_WINDOW.start(), *DELIVER_WINDOW.end());
        if self.handed_on >= window {
            return None;
        }
        let next = self.waiting.pop_front()?;
        self.handed_on += 1;
        Some(next)
    }

    /// One handed on was answered (or answered at once, not handed on after all).
    pub fn answered(&mut self) {
        let before = self
            .read
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .unwrap_or(0);
        if before >= self.read.limit {
            self.read.reader.wake();
        }
        self.handed_on = self.handed_on.saturating_sub(1);
    }

    /// The read side is stopped ([`READ_AHEAD`] read and unanswered), or was at some
    /// moment since the last call: what the carrier sent after those may not have been
    /// read yet.
    pub fn stopped(&self) -> bool {
        self.read.stopped.swap(false, Ordering::AcqRel) || self.read.is_full()
    }

    /// `inner`, read only while fewer than the read-ahead wait.
    pub fn gate<S>(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            read: self.read.clone(),
        }
    }
}

/// A read side that yields nothing while its [`DeliverWindow`] holds its read-ahead.
pub struct Gated<S> {
    inner: S,
    read: Arc<ReadCount>,
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.read.is_full() {
            self.read.reader.register(cx.waker());
            // an answer may have come between the look and the registration
            if self.read.is_full() {
                self.read.stopped.store(true, Ordering::Release);
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    fn poll<S: Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
        let w = noop_waker();
        Pin::new(s).poll_next(&mut Context::from_waker(&w))
    }

    const MIN: usize = *DELIVER_WINDOW.start();

    #[test]
    fn hands_on_a_window_at_a_time_in_the_order_read() {
        let mut w = DeliverWindow::new(10_000);
        for i in 0..MIN + 2 {
            w.read(i);
        }
        for i in 0..MIN {
            assert_eq!(w.next(0), Some(i), "at least the smallest window");
        }
        assert_eq!(w.next(0), None);
        assert_eq!(w.waiting.len(), 2);
        w.answered();
        assert_eq!(w.next(0), Some(MIN));
        assert_eq!(w.next(0), None);
        // a bigger window (more submits in flight) hands on more at once
        assert_eq!(w.next(MIN + 1), Some(MIN + 1));
        assert_eq!(w.next(MIN + 1), None);
        assert_eq!(w.waiting.len(), 0);
    }

    #[test]
    fn the_window_never_passes_its_largest() {
        let mut w = DeliverWindow::new(10_000);
        let most = *DELIVER_WINDOW.end();
        for i in 0..most + 1 {
            w.read(i);
        }
        let out = std::iter::from_fn(|| w.next(usize::MAX)).count();
        assert_eq!(out, most);
    }

    #[test]
    fn reads_on_while_the_window_is_out_and_stops_at_the_read_ahead() {
        let mut w = DeliverWindow::new(3);
        let mut s = w.gate(futures::stream::iter(1..=9));
        for i in 1..=3 {
            assert_eq!(poll(&mut s), Poll::Ready(Some(i)));
            w.read(i);
        }
        assert_eq!(poll(&mut s), Poll::Pending);
        assert_eq!(w.next(0), Some(1));
        w.answered();
        assert_eq!(poll(&mut s), Poll::Ready(Some(4)));
        assert!(
            w.stopped(),
            "it stopped since the last look, though it reads again"
        );
        assert!(!w.stopped(), "told once");
    }

    struct Flag(std::sync::atomic::AtomicBool);
    impl futures::task::ArcWake for Flag {
        fn wake_by_ref(me: &Arc<Self>) {
            me.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_answer_wakes_the_reader_it_stopped() {
        let mut w = DeliverWindow::new(1);
        w.read(0);
        let mut s = w.gate(futures::stream::iter([7]));
        let flag = Arc::new(Flag(Default::default()));
        let waker = futures::task::waker(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(Pin::new(&mut s).poll_next(&mut cx), Poll::Pending);
        assert!(!flag.0.load(Ordering::SeqCst));
        assert_eq!(w.next(0), Some(0));
        w.answered();
        assert!(
            flag.0.load(Ordering::SeqCst),
            "the stopped reader was not woken"
        );
        assert_eq!(Pin::new(&mut s).poll_next(&mut cx), Poll::Ready(Some(7)));
    }

    #[test]
    fn more_answers_than_reads_never_open_it_past_its_limits() {
        let mut w = DeliverWindow::new(1);
        w.answered();
        w.answered();
        w.read(1u8);
        let mut s = w.gate(futures::stream::iter([1]));
        assert_eq!(poll(&mut s), Poll::Pending);
        for _ in 0..MIN {
            w.read(2);
        }
        assert_eq!(std::iter::from_fn(|| w.next(0)).count(), MIN);
    }
}
