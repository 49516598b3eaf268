//! submit_multi: the submit_sm each of its destinations amounts to (tern makes each its own
//! message, with its own id, charge and receipt), and the submit_multi_resp that answers
//! them together.

use rusmpp::pdus::{SubmitMulti, SubmitMultiResp, SubmitSm};
use rusmpp::types::COctetString;
use rusmpp::values::{DestAddress, Npi, Ton, UnsuccessSme};
use rusmpp::{Command, CommandId, CommandStatus};

/// One destination of a submit_multi, as the ESME wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Its TON.
    pub ton: u8,
    /// Its NPI.
    pub npi: u8,
    /// The number, or a distribution list's name.
    pub addr: String,
}

/// Each destination, with the submit_sm it amounts to: `None` for a distribution list
/// (tern keeps none, so its name is refused with ESME_RINVDLNAME).
pub fn destinations(m: &SubmitMulti) -> Vec<(Dest, Option<SubmitSm>)> {
    m.dest_address()
        .iter()
        .map(|d| match d {
            DestAddress::SmeAddress(a) => {
                let dest = Dest {
                    ton: u8::from(a.dest_addr_ton),
                    npi: u8::from(a.dest_addr_npi),
                    addr: a.destination_addr.to_string(),
                };
                let mut sm = SubmitSm::builder()
                    .service_type(m.service_type.clone())
                    .source_addr_ton(m.source_addr_ton)
                    .source_addr_npi(m.source_addr_npi)
                    .source_addr(m.source_addr.clone())
                    .dest_addr_ton(a.dest_addr_ton)
                    .dest_addr_npi(a.dest_addr_npi)
                    .destination_addr(a.destination_addr.clone())
                    .esm_class(m.esm_class)
                    .protocol_id(m.protocol_id)
                    .priority_flag(m.priority_flag)
                    .schedule_delivery_time(m.schedule_delivery_time.clone())
                    .validity_period(m.validity_period.clone())
                    .registered_delivery(m.registered_delivery)
                    .replace_if_present_flag(m.replace_if_present_flag)
                    .data_coding(m.data_coding)
                    .sm_default_msg_id(m.sm_default_msg_id)
                    .build();
                sm.set_short_message(m.short_message().clone());
                sm.set_tlvs(super::pdu::request_tlvs(m.tlvs(), &[]));
                (dest, Some(sm))
            }
            DestAddress::DistributionListName(l) => (
                Dest {
                    ton: 0,
                    npi: 0,
                    addr: l.dl_name.to_string(),
                },
                None,
            ),
        })
        .collect()
}

/// The answer to a submit_multi whose destinations came out as `results` (in order): OK
/// with the first accepted message's id and every refused destination with its status;
/// when none was accepted, the first refusal's status (and no body, as every error).
pub fn resp(seq: u32, results: &[(Dest, Result<String, CommandStatus>)]) -> Command {
    let first_id = results.iter().find_map(|(_, r)| r.as_ref().ok());
    let Some(id) = first_id else {
        let status = results
            .iter()
            .find_map(|(_, r)| r.as_ref().err().copied())
            .unwrap_or(CommandStatus::EsmeRinvnumdests);
        return super::pdu::error_resp(CommandId::SubmitMultiResp, status, seq);
    };
    let unsuccess = results
        .iter()
        .filter_map(|(d, r)| {
            let status = *r.as_ref().err()?;
            Some(UnsuccessSme::new(
                Ton::from(d.ton),
                Npi::from(d.npi),
                COctetString::from_string(d.addr.clone()).unwrap_or_default(),
                status,
            ))
        })
        .collect();
    let id = COctetString::from_string(id.clone()).unwrap_or_default();
    Command::new(
        CommandStatus::EsmeRok,
        seq,
        SubmitMultiResp::new(id, unsuccess, Vec::new()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::Pdu;
    use rusmpp::types::OctetString;
    use rusmpp::values::{DistributionListName, SmeAddress};

    fn multi() -> SubmitMulti {
        let sme = |n: &str| {
            DestAddress::SmeAddress(SmeAddress::new(
                Ton::International,
                Npi::Isdn,
                COctetString::from_string(n.to_string()).unwrap(),
            ))
        };
        let mut m = SubmitMulti::builder()
            .source_addr(COctetString::from_string("ACME".into()).unwrap())
            .dest_address(vec![
                sme("491701234567"),
                DestAddress::DistributionListName(DistributionListName::new(
                    COctetString::from_string("friends".into()).unwrap(),
                )),
                sme("491701234568"),
            ])
            .build();
        m.set_short_message(OctetString::from_vec(b"hi all".to_vec()).unwrap());
        m
    }

    #[test]
    fn each_number_is_a_submit_sm_with_the_multis_fields() {
        let d = destinations(&multi());
        assert_eq!(d.len(), 3);
        let sm = d[0].1.as_ref().unwrap();
        assert_eq!(sm.destination_addr.to_string(), "491701234567");
        assert_eq!(sm.source_addr.to_string(), "ACME");
        assert_eq!(sm.short_message().as_ref(), b"hi all");
        assert!(d[1].1.is_none(), "a distribution list");
        assert_eq!(d[1].0.addr, "friends");
        assert_eq!(
            d[2].1.as_ref().unwrap().destination_addr.to_string(),
            "491701234568"
        );
    }

    #[test]
    fn the_resp_names_the_first_id_and_each_refused_destination() {
        let d: Vec<Dest> = destinations(&multi()).into_iter().map(|(d, _)| d).collect();
        let results = vec![
            (d[0].clone(), Err(CommandStatus::EsmeRthrottled)),
            (d[1].clone(), Err(CommandStatus::EsmeRinvdlname)),
            (d[2].clone(), Ok("00000000000000aa".to_string())),
        ];
        let c = resp(7, &results);
        assert_eq!(c.status(), CommandStatus::EsmeRok);
        let Some(Pdu::SubmitMultiResp(r)) = c.pdu() else {
            panic!("not a submit_multi_resp")
        };
        assert_eq!(r.message_id.to_string(), "00000000000000aa");
        let u = r.unsuccess_sme();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].destination_addr.to_string(), "491701234567");
        assert_eq!(u[0].error_status_code, CommandStatus::EsmeRthrottled);
        assert_eq!(u[1].error_status_code, CommandStatus::EsmeRinvdlname);
        let none = resp(8, &results[..2]);
        assert_eq!(none.status(), CommandStatus::EsmeRthrottled);
    }
}
