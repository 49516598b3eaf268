//! A bounded writer task for an SMPP socket.
//!
//! actix's `FramedWrite` buffers without limit on tokio sockets (crates.md §3), so a peer
//! that never reads would grow tern's memory forever. Every session instead hands encoded
//! commands to this task through a bounded channel; when the channel is full the session
//! stops reading (and gives up after a timeout). The task batches whatever is queued into
//! one write syscall.

use std::time::Duration;

use futures::SinkExt;
use rusmpp::Command;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::timeout;
use tokio_util::codec::FramedWrite;

use super::codec::SmppCodec;

/// Commands queued per connection before the session must wait.
pub const WRITE_QUEUE: usize = 1024;

/// A write that makes no progress for this long ends the connection: the peer is not
/// reading, and holding its socket open would hold its buffers forever.
pub const WRITE_STALL: Duration = Duration::from_secs(15);

/// Spawns the writer on the current runtime and returns its queue. The task ends when
/// the queue is closed (all senders dropped) or the socket fails; it closes the socket then,
/// after writing what was queued.
pub fn spawn_writer<W>(w: W, cap: usize) -> mpsc::Sender<Command>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    spawn_abortable_writer(w, cap).0
}

/// As [`spawn_writer`], with a handle that ends the task at once, dropping what is still
/// queued: for a connection given up on whose queued submits are sent elsewhere instead.
pub fn spawn_abortable_writer<W>(w: W, cap: usize) -> (mpsc::Sender<Command>, AbortHandle)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Command>(cap);
    let task = tokio::spawn(async move {
        let mut sink = FramedWrite::new(w, SmppCodec::default());
        while let Some(c) = rx.recv().await {
            if !matches!(timeout(WRITE_STALL, sink.feed(c)).await, Ok(Ok(()))) {
                break;
            }
            // batch what is already queued into the same write
            let mut n = 1;
            while n < 256 {
                match rx.try_recv() {
                    Ok(c) => {
                        if !matches!(timeout(WRITE_STALL, sink.feed(c)).await, Ok(Ok(()))) {
                            return;
                        }
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if !matches!(
                timeout(WRITE_STALL, SinkExt::<Command>::flush(&mut sink)).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        let _ = timeout(WRITE_STALL, SinkExt::<Command>::close(&mut sink)).await;
    });
    (tx, task.abort_handle())
}
