//! cancel_sm and replace_sm: checked against the stored message here, done at its router
//! shard, which claims the message before any carrier can (`actors/router.rs`).

use super::*;

impl EsmeSession {
    /// A cancel_sm or replace_sm: checked against the stored message here, then done at
    /// its router shard, which claims it before any carrier can (answered by an
    /// `Answer<ChangeOutcome>`).
    pub(super) fn on_change(&mut self, cmd: &Command, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let (resp, failed) = match cmd.id() {
            CommandId::CancelSm => (CommandId::CancelSmResp, CommandStatus::EsmeRcancelfail),
            _ => (CommandId::ReplaceSmResp, CommandStatus::EsmeRreplacefail),
        };
        let fail = |status| pdu::error_resp(resp, status, seq);
        let account = match &self.state {
            BindState::Bound { account, mode, .. } if *mode != Mode::Receiver && !self.released => {
                account.system_id.clone()
            }
            _ => return self.write(fail(CommandStatus::EsmeRinvbndsts), ctx),
        };
        let (id, source, change) = match cmd.pdu() {
            Some(Pdu::CancelSm(c)) => (&c.message_id, &c.source_addr, Change::Cancel),
            Some(Pdu::ReplaceSm(r)) => (
                &r.message_id,
                &r.source_addr,
                Change::Replace(Box::new(r.clone())),
            ),
            _ => return self.write(fail(CommandStatus::EsmeRinvcmdlen), ctx),
        };
        let (id, source) = (id.to_string(), source.to_string());
        if id.is_empty()
            && let Some(Pdu::CancelSm(c)) = cmd.pdu()
        {
            return self.cancel_all(c, account, seq, ctx);
        }
        let rec = match crate::store::messages::record_of(&*self.env.kv, &id) {
            Ok(Some(rec)) if crate::protocol::change::changeable(&rec, &account, &source) => rec,
            Ok(_) => return self.write(fail(failed), ctx),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "cancel/replace: the store could not be read");
                return self.write(fail(CommandStatus::EsmeRsyserr), ctx);
            }
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        self.changes.insert(tag, (seq, resp, failed));
        self.env
            .routers
            .for_key(&rec.meta.dest)
            .do_send(ChangeMessage {
                id,
                change,
                reply: ReplyTo::new(ctx.address().recipient(), tag),
            });
    }
}

impl EsmeSession {
    /// A cancel_sm with no message_id: every message of the account from its source_addr to
    /// its destination_addr (and of its service_type, when given) no carrier has yet.
    fn cancel_all(
        &mut self,
        c: &rusmpp::pdus::CancelSm,
        account: String,
        seq: u32,
        ctx: &mut Context<Self>,
    ) {
        let raw = c.destination_addr.to_string();
        let Ok(dest) =
            check_destination(&raw, u8::from(c.dest_addr_ton), u8::from(c.dest_addr_npi))
        else {
            let fail = CommandStatus::EsmeRcancelfail;
            return self.write(pdu::error_resp(CommandId::CancelSmResp, fail, seq), ctx);
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        let failed = CommandStatus::EsmeRcancelfail;
        self.changes
            .insert(tag, (seq, CommandId::CancelSmResp, failed));
        self.env.routers.for_key(dest).do_send(CancelAll {
            account,
            source: c.source_addr.to_string(),
            dest: dest.to_string(),
            service_type: (!c.service_type.value().to_string().is_empty())
                .then(|| c.service_type.clone()),
            reply: ReplyTo::new(ctx.address().recipient(), tag),
        });
    }
}

impl Handler<Answer<ChangeOutcome>> for EsmeSession {
    type Result = ();
    fn handle(&mut self, a: Answer<ChangeOutcome>, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let Some((seq, resp, failed)) = this.changes.remove(&a.tag) else {
                return;
            };
            let answer = match a.value {
                ChangeOutcome::Done => {
                    let body = match resp {
                        CommandId::CancelSmResp => Pdu::CancelSmResp,
                        _ => Pdu::ReplaceSmResp,
                    };
                    Command::new(CommandStatus::EsmeRok, seq, body)
                }
                ChangeOutcome::TooLate => pdu::error_resp(resp, failed, seq),
                ChangeOutcome::Failed => pdu::error_resp(resp, CommandStatus::EsmeRsyserr, seq),
                ChangeOutcome::Refused(status) => pdu::error_resp(resp, status, seq),
            };
            this.write(answer, ctx);
        });
    }
}
