//! tern: an SMS switch. ESMEs bind over SMPP and submit messages; tern rates them, stores
//! them durably, routes them to upstream carriers over SMPP and returns the carriers'
//! delivery receipts to whoever sent each message.
//!
//! `domain` holds the pure rules, `protocol` the SMPP framing and PDU builders, `store` the
//! on-disk layout, `actors` the moving parts, `http` the admin API and metrics, `sim` a
//! carrier simulator. `node` wires them together.

// Outside tests nothing may panic on what the network sends: a fallible call is an error
// path, never unwrap() or expect().
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod accounts;
pub mod actors;
pub mod api_keys;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod failpoint;
pub mod http;
pub mod node;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod sim;
pub mod store;
pub mod suppressions;
