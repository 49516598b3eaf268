//! command_status values tern uses, their names (for metrics and logs), and which carrier
//! errors are worth retrying.

/// ESME_ROK
pub const OK: u32 = 0x00;
/// ESME_RSYSERR
pub const SYSERR: u32 = 0x08;
/// ESME_RMSGQFUL
pub const MSGQFUL: u32 = 0x14;
/// ESME_RTHROTTLED
pub const THROTTLED: u32 = 0x58;
/// ESME_RX_T_APPN
pub const X_T_APPN: u32 = 0x64;

/// The SMPP name of a status (`ESME_RTHROTTLED`), or its hex value.
pub fn name(status: u32) -> String {
    let n = match status {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x14 => "ESME_RMSGQFUL",
        0x45 => "ESME_RSUBMITFAIL",
        0x58 => "ESME_RTHROTTLED",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        _ => return format!("0x{status:08x}"),
    };
    n.to_string()
}

/// A carrier error that says "not now" rather than "never": the message moves to the next
/// carrier or is retried later (system error, queue full, throttled, temporary app error).
pub fn is_temporary(status: u32) -> bool {
    matches!(status, SYSERR | MSGQFUL | THROTTLED | X_T_APPN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_errors_are_the_four_the_spec_names() {
        for s in [0x08, 0x14, 0x58, 0x64] {
            assert!(is_temporary(s));
        }
        for s in [0x00, 0x0B, 0x45, 0x65, 0xFF] {
            assert!(!is_temporary(s));
        }
    }

    #[test]
    fn names() {
        assert_eq!(name(0x58), "ESME_RTHROTTLED");
        assert_eq!(name(0x400), "0x00000400");
    }
}
