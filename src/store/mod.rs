//! Storage: the [`kv::Kv`] trait over sled, and the key layout and records in [`keys`].
//! The `Store` actor (group commit) lives in `actors::store`.

pub mod keys;
pub mod kv;
