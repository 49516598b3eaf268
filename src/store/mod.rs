//! Storage: the [`kv::Kv`] trait, the [`engine::Engine`] behind it (a write-ahead
//! [`journal`] in front of sled), the key layout in [`keys`], and a message's record
//! through its life in [`messages`], an MO's in [`mo`].
//! The `Store` actor (group commit) lives in `actors::store`.

pub mod engine;
pub mod journal;
pub mod keys;
pub mod kv;
pub mod messages;
pub mod mo;
pub mod record;
