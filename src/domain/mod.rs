//! Pure types and rules of the trade, with no I/O: money, addresses, encodings, routes,
//! breakers, throttles, receipts and the message record. Actors hold these and pass them around.

pub mod address;
pub mod aimd;
pub mod audit;
pub mod awaiting;
pub mod backlog;
pub mod backoff;
pub mod breaker;
pub mod clock;
pub mod connections;
pub mod dlr;
pub mod encoding;
pub mod gsm;
pub mod idempotency;
pub mod ip_allow;
pub mod ledger_entry;
pub mod lockout;
pub mod message;
pub mod mo;
pub mod money;
pub mod retries;
pub mod route;
pub mod throttle;
pub mod validity;
pub mod webhook;
