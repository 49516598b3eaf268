//! A bounded writer task for an SMPP socket.
//!
//! actix's `FramedWrite` buffers without limit on tokio sockets (crates.md §3), so a peer
//! that never reads would grow tern's memory forever. Every session instead hands encoded
//! commands to this task through a bounded channel; when the channel is full the session
//! stops reading (and gives up after a timeout). The task batches whatever is queued into
//! one write syscall.

use futures::SinkExt;
use rusmpp::Command;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;

use super::codec::SmppCodec;

/// Commands queued per connection before the session must wait.
pub const WRITE_QUEUE: usize = 1024;

/// Spawns the writer on the current runtime and returns its queue. The task ends when
/// the queue is closed (all senders dropped) or the socket fails; it closes the socket then.
pub fn spawn_writer<W>(w: W, cap: usize) -> mpsc::Sender<Command>
where
    W: AsyncWrite + Unpin + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Command>(cap);
    tokio::task::spawn_local(async move {
        let mut sink = FramedWrite::new(w, SmppCodec::default());
        while let Some(c) = rx.recv().await {
            if sink.feed(c).await.is_err() {
                break;
            }
            // batch what is already queued into the same write
            let mut n = 1;
            while n < 256 {
                match rx.try_recv() {
                    Ok(c) => {
                        if sink.feed(c).await.is_err() {
                            return;
                        }
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if SinkExt::<Command>::flush(&mut sink).await.is_err() {
                break;
            }
        }
        let _ = SinkExt::<Command>::close(&mut sink).await;
    });
    tx
}
