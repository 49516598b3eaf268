//! Let it crash, restart it small. A panic in an actor's handler is caught at the handler's
//! edge; the actor's own [`Restart::restart`] then rebuilds what the crash may have left
//! half-done, and the actor goes on under the same address: senders never see a dead
//! mailbox, and commits it had in flight still settle. An actor that cannot be rebuilt in
//! place (a connection) stops, and its supervisor or peer starts a fresh one. Every crash is
//! logged and counted in `tern_actor_restarts_total{actor}`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use actix::prelude::*;

/// An actor that can be restarted in place after a panic.
pub trait Restart: Actor {
    /// The `actor` label of `tern_actor_restarts_total`.
    const NAME: &'static str;

    /// Brings the actor back to a consistent state after a panic in one of its handlers
    /// (or stops it, when only a fresh one would be).
    fn restart(&mut self, ctx: &mut Self::Context);
}

/// Runs a handler body; a panic in it restarts the actor instead of killing its task.
/// Returns `None` when the body panicked.
pub fn guard<A, R>(
    act: &mut A,
    ctx: &mut A::Context,
    body: impl FnOnce(&mut A, &mut A::Context) -> R,
) -> Option<R>
where
    A: Restart,
{
    match catch_unwind(AssertUnwindSafe(|| body(act, ctx))) {
        Ok(r) => Some(r),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(actor = A::NAME, panic = %why, "actor crashed; restarting it");
            metrics::counter!("tern_actor_restarts_total", "actor" => A::NAME).increment(1);
            act.restart(ctx);
            None
        }
    }
}
