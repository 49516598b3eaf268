//! `Idempotency-Key` on `POST /v1/messages`: a client that retries a request it never
//! saw the answer to (a timeout, a dropped connection) gets the first answer again, and
//! the message is stored, charged and sent once.
//!
//! The answer is stored by the ledger in the very batch that stores the message
//! (`i/<account>/<key>`, [`IdempotentAnswer`]), so after any crash either both exist or
//! neither does. A key is the account's own and is kept [`KEEP_MS`] (24 h); after that it
//! may be used again. Only an accepted message is remembered: a refused request (400, 402,
//! 429...) leaves nothing, so its retry is judged afresh. The rules themselves are
//! `domain::idempotency`.
//!
//! Two requests with one key at once: the second is answered 409 while the first is in
//! flight; the same key with another body is 422.

use std::sync::Arc;
use std::time::Duration;

pub use crate::domain::idempotency::*;

use crate::actors::store::StoreHandle;
use crate::store::keys::{self, IdempotentAnswer};
use crate::store::kv::{Kv, WriteBatch};

/// How often answers past [`KEEP_MS`] are removed.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

/// The stored answer of `account`'s `key`, if any.
pub fn stored(
    kv: &dyn Kv,
    account: &str,
    key: &str,
) -> Result<Option<IdempotentAnswer>, crate::store::kv::StoreError> {
    kv.get(&keys::idempotency(account, key))?
        .map(|v| keys::decode(&v))
        .transpose()
}

/// The stored answers past [`KEEP_MS`] at `now_ms`.
fn expired(kv: &dyn Kv, now_ms: u64) -> Vec<Vec<u8>> {
    kv.scan_prefix(keys::IDEMPOTENCY_PREFIX)
        .into_iter()
        .flatten()
        .filter(|(_, v)| {
            keys::decode::<IdempotentAnswer>(v)
                .map_or(true, |a| now_ms.saturating_sub(a.created_ms) >= KEEP_MS)
        })
        .map(|(k, _)| k.to_vec())
        .collect()
}

/// Removes answers past [`KEEP_MS`] every hour, for as long as the node runs.
pub async fn expire_forever(kv: Arc<dyn Kv>, store: StoreHandle) {
    let mut every = tokio::time::interval(EXPIRE_EVERY);
    loop {
        every.tick().await;
        let k = kv.clone();
        let old = tokio::task::spawn_blocking(move || expired(&*k, crate::domain::clock::now_ms()))
            .await
            .unwrap_or_default();
        // read again just before removing: a key used anew since the scan keeps its answer
        let now = crate::domain::clock::now_ms();
        let still: Vec<Vec<u8>> = old
            .into_iter()
            .filter(|k| {
                kv.get(k).ok().flatten().is_some_and(|v| {
                    keys::decode::<IdempotentAnswer>(&v)
                        .map_or(true, |a| now.saturating_sub(a.created_ms) >= KEEP_MS)
                })
            })
            .collect();
        if still.is_empty() {
            continue;
        }
        let n = still.len();
        let mut b = WriteBatch::default();
        for k in still {
            b.del(k);
        }
        match store.commit(b).await {
            Ok(()) => tracing::debug!(count = n, "idempotency keys past 24 h removed"),
            // kept, and judged Fresh all the same: the next hour tries again
            Err(e) => tracing::warn!(error = %e, "idempotency keys past 24 h not removed"),
        }
    }
}
