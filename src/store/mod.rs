//! Storage: the [`kv::Kv`] trait, the [`engine::Engine`] behind it (a write-ahead
//! [`journal`] in front of sled), and the key layout and records in [`keys`].
//! The `Store` actor (group commit) lives in `actors::store`.

pub mod engine;
pub mod journal;
pub mod keys;
pub mod kv;
pub mod record;
