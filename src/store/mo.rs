//! An MO's record through its life: what storing it writes (its `n/` record and, when a
//! route took it, its account's outbox entry), and what its end writes (the outbox entry
//! gone, the record saying how it ended). Layout in [`super::keys`].

use crate::domain::mo::{Mo, MoState};

use super::keys;
use super::kv::WriteBatch;
use super::record;

/// Adds the writes that store a new MO: its record, and its outbox entry when it has an
/// account. Ids are never reused, so both keys are new.
pub fn accept(b: &mut WriteBatch, mo: &Mo) {
    b.insert_new(keys::mo(&mo.id), keys::encode(mo));
    if let Some(account) = &mo.account {
        b.insert_new(keys::outbox(account, &mo.id), record::encode_outbox_mo(mo));
    }
}

/// Adds the writes that end an MO as `state` (delivered or expired): its outbox entry
/// removed, its record rewritten with the state.
pub fn end(b: &mut WriteBatch, mo: &Mo, state: MoState) {
    if let Some(account) = &mo.account {
        b.del(keys::outbox(account, &mo.id));
    }
    b.put(
        keys::mo(&mo.id),
        keys::encode(&Mo {
            state,
            ..mo.clone()
        }),
    );
}
