//! submit_multi: each destination submitted as its own message through the submit path,
//! the answers gathered into one submit_multi_resp.

use super::*;

/// A submit_multi being answered: one result per destination, the resp once all are in.
pub(super) struct MultiAnswer {
    seq: u32,
    results: Vec<(multi::Dest, Option<Result<String, CommandStatus>>)>,
    waiting: usize,
}

impl EsmeSession {
    /// A destination of a submit_multi came out; the resp goes once all have.
    pub(super) fn multi_result(
        &mut self,
        asked: Asked,
        result: Result<String, CommandStatus>,
        ctx: &mut Context<Self>,
    ) {
        let Some((key, i)) = asked.multi else {
            return;
        };
        let Some(m) = self.multis.get_mut(&key) else {
            return;
        };
        if let Some((_, slot)) = m.results.get_mut(i)
            && slot.is_none()
        {
            *slot = Some(result);
            m.waiting -= 1;
        }
        if m.waiting > 0 {
            return;
        }
        if let Some(m) = self.multis.remove(&key) {
            let results: Vec<_> = m
                .results
                .into_iter()
                .map(|(d, r)| (d, r.unwrap_or(Err(CommandStatus::EsmeRsyserr))))
                .collect();
            self.write(multi::resp(m.seq, &results), ctx);
        }
    }

    /// A submit_multi read at `t0`: each destination submitted as its own message, the
    /// answers gathered into one submit_multi_resp.
    pub(super) fn on_submit_multi(&mut self, cmd: Command, t0: Instant, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let sender =
            matches!(&self.state, BindState::Bound { mode, .. } if *mode != Mode::Receiver);
        let refuse = |status| pdu::error_resp(CommandId::SubmitMultiResp, status, seq);
        if !sender {
            return self.write(refuse(CommandStatus::EsmeRinvbndsts), ctx);
        }
        let Some(Pdu::SubmitMulti(m)) = cmd.pdu() else {
            return self.write(refuse(CommandStatus::EsmeRinvcmdlen), ctx);
        };
        let dests = multi::destinations(m);
        if dests.is_empty() {
            return self.write(refuse(CommandStatus::EsmeRinvnumdests), ctx);
        }
        let key = self.next_tag;
        self.next_tag += 1;
        self.multis.insert(
            key,
            MultiAnswer {
                seq,
                results: dests.iter().map(|(d, _)| (d.clone(), None)).collect(),
                waiting: dests.len(),
            },
        );
        for (i, (_, sm)) in dests.into_iter().enumerate() {
            let asked = Asked {
                seq,
                resp: CommandId::SubmitMultiResp,
                multi: Some((key, i)),
            };
            match sm {
                Some(sm) => {
                    let one = Command::new(CommandStatus::EsmeRok, seq, sm.clone());
                    self.submit(asked, &sm, &one, t0, ctx);
                }
                None => self.refuse_submit(asked, CommandStatus::EsmeRinvdlname, ctx),
            }
        }
    }
}
