//! What a load run measured, and how it is printed.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use crate::timeline::Timeline;

/// The outcome of one load run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Messages offered.
    pub messages: u64,
    /// Accepted (submit_sm_resp OK).
    pub accepted: u64,
    /// Refused, by command_status.
    pub refused: HashMap<u32, u64>,
    /// Receipts matched to an accepted message.
    pub matched: u64,
    /// Receipts with no id tern-load knows.
    pub unmatched: u64,
    /// Second (or later) receipts for one message.
    pub duplicates: u64,
    /// The messages asked for receipts.
    pub receipts_expected: bool,
    /// Wall time of the run.
    pub seconds: f64,
    /// submit_sm → submit_sm_resp, microseconds.
    pub submit_latency: Histogram<u64>,
    /// submit_sm → its receipt, microseconds.
    pub receipt_latency: Histogram<u64>,
    /// MO received (deliver_sm that are not receipts).
    pub mo: u64,
    /// The simulator writing an MO → the ESME reading it, microseconds.
    pub mo_latency: Histogram<u64>,
    /// Sessions that failed.
    pub errors: Vec<String>,
    /// The run second by second.
    pub timeline: Timeline,
}

impl Report {
    /// An empty report for `messages` offered.
    pub fn new(messages: u64) -> Report {
        let h = Histogram::<u64>::new(3)
            .unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
        Report {
            messages,
            accepted: 0,
            refused: HashMap::new(),
            matched: 0,
            unmatched: 0,
            duplicates: 0,
            receipts_expected: true,
            seconds: 0.0,
            submit_latency: h.clone(),
            receipt_latency: h.clone(),
            mo: 0,
            mo_latency: h,
            errors: Vec::new(),
            timeline: Timeline::default(),
        }
    }

    /// Receipted messages per second, start to last receipt (accepted ones when the run
    /// asked for no receipts).
    pub fn throughput(&self) -> f64 {
        let done = if self.receipts_expected {
            self.matched
        } else {
            self.accepted
        };
        if self.seconds > 0.0 {
            done as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Every message accepted and receipted exactly once (when asked), nothing unknown.
    pub fn complete(&self) -> bool {
        let receipts = if self.receipts_expected {
            self.accepted
        } else {
            0
        };
        self.accepted == self.messages
            && self.matched == receipts
            && self.unmatched == 0
            && self.duplicates == 0
            && self.errors.is_empty()
    }

    /// The report as JSON (latencies in milliseconds).
    pub fn json(&self) -> serde_json::Value {
        let lat = |h: &Histogram<u64>| {
            let ms = |v: u64| v as f64 / 1000.0;
            serde_json::json!({
                "p50": ms(h.value_at_quantile(0.5)),
                "p90": ms(h.value_at_quantile(0.9)),
                "p99": ms(h.value_at_quantile(0.99)),
                "p99_9": ms(h.value_at_quantile(0.999)),
                "max": ms(h.max()),
            })
        };
        let refused: serde_json::Map<String, serde_json::Value> = self
            .refused
            .iter()
            .map(|(k, v)| (format!("0x{k:08x}"), (*v).into()))
            .collect();
        serde_json::json!({
            "messages": self.messages,
            "accepted": self.accepted,
            "refused": refused,
            "receipts_matched": self.matched,
            "receipts_unmatched": self.unmatched,
            "receipts_duplicate": self.duplicates,
            "seconds": self.seconds,
            "throughput_msg_s": self.throughput(),
            "throughput_per_100k_msg_s": self.timeline.rate_per_100k(),
            "submit_to_resp_ms": lat(&self.submit_latency),
            "submit_to_receipt_ms": lat(&self.receipt_latency),
            "mo_received": self.mo,
            "mo_msg_s": self.mo_rate(),
            "mo_sim_to_esme_ms": lat(&self.mo_latency),
            "complete": self.complete(),
            "errors": self.errors,
        })
    }

    /// Prints the human table.
    pub fn print(&self, title: &str) {
        println!("== {title}");
        for e in &self.errors {
            println!("   error: {e}");
        }
        println!(
            "   accepted {} of {}, refused {:?}",
            self.accepted, self.messages, self.refused
        );
        println!(
            "   receipts matched {}, unmatched {}, duplicate {}",
            self.matched, self.unmatched, self.duplicates
        );
        println!(
            "   end to end: {:.0} msg/s over {:.2} s",
            self.throughput(),
            self.seconds
        );
        let per_100k = self.timeline.rate_per_100k();
        // whole-second counts say little about a run of a few seconds
        if per_100k.len() > 1 && self.seconds >= 10.0 {
            let row: Vec<String> = per_100k.iter().map(|r| format!("{r:.0}")).collect();
            println!("   msg/s per 100k receipts: {}", row.join(" "));
        }
        println!("   submit -> resp:    {}", pct(&self.submit_latency));
        println!("   submit -> receipt: {}", pct(&self.receipt_latency));
        if self.mo > 0 {
            println!(
                "   MO received {} ({:.0}/s); carrier -> ESME: {}",
                self.mo,
                self.mo_rate(),
                pct(&self.mo_latency)
            );
        }
    }

    /// MO received per second of the run.
    pub fn mo_rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.mo as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// p50 … max of a microsecond histogram, in milliseconds.
pub fn pct(h: &Histogram<u64>) -> String {
    let ms = |v: u64| v as f64 / 1000.0;
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max())
    )
}
