//! query_sm: a message's state, answered from the store for the account's own messages.

use super::*;

impl EsmeSession {
    /// query_sm: the state of one of the account's own messages, read from the store. Any
    /// other id (unknown, or another account's) is ESME_RQUERYFAIL, so ids of others cannot
    /// be probed.
    pub(super) fn on_query(&mut self, cmd: &Command, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let fail = |status| pdu::error_resp(CommandId::QuerySmResp, status, seq);
        let account = match &self.state {
            BindState::Bound { account, mode, .. } if *mode != Mode::Receiver && !self.released => {
                account.system_id.clone()
            }
            _ => return self.write(fail(CommandStatus::EsmeRinvbndsts), ctx),
        };
        let Some(Pdu::QuerySm(q)) = cmd.pdu() else {
            return self.write(fail(CommandStatus::EsmeRsyserr), ctx);
        };
        let id = q.message_id.to_string();
        let rec = match crate::store::messages::record_of(&*self.env.kv, &id) {
            Ok(Some(rec)) if rec.meta.account == account => rec,
            Ok(_) => return self.write(fail(CommandStatus::EsmeRqueryfail), ctx),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "query_sm: the store could not be read");
                return self.write(fail(CommandStatus::EsmeRsyserr), ctx);
            }
        };
        let (state, final_ms, error_code) = match crate::store::messages::query_answer(
            &*self.env.kv,
            &rec,
        ) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "query_sm: the store could not be read");
                return self.write(fail(CommandStatus::EsmeRsyserr), ctx);
            }
        };
        self.write(
            pdu::query_sm_resp(seq, &id, state, final_ms, error_code),
            ctx,
        );
    }
}
