//! The submit path of a session: a submit_sm (or data_sm, or one destination of a
//! submit_multi) checked, held back while its carrier is backlogged, handed to the
//! account's ledger, and answered once the ledger says it is durable or refused.

use super::*;

/// The payload length, data_coding and esm_class that decide the part count.
/// The message's octets (message_payload when present, else short_message), its
/// data_coding and esm_class.
pub(super) fn message_shape(sm: &SubmitSm) -> (&[u8], u8, u8) {
    let mut octets = sm.short_message().as_ref();
    for t in sm.tlvs() {
        if let Some(rusmpp::tlvs::TlvValue::MessagePayload(p)) = t.value() {
            octets = p.value.as_ref();
        }
    }
    (octets, u8::from(sm.data_coding), u8::from(sm.esm_class))
}

impl EsmeSession {
    pub(super) fn refuse_submit(
        &mut self,
        asked: Asked,
        status: CommandStatus,
        ctx: &mut Context<Self>,
    ) {
        let account = self.account_name().to_string();
        metrics::counter!("tern_submit_total", "account" => account, "status" => crate::protocol::status::name(u32::from(status)))
            .increment(1);
        self.answer_refusal(asked, status, ctx);
    }

    /// Answers a refused submit: its error response, or its destination's place in a
    /// submit_multi_resp.
    pub(super) fn answer_refusal(
        &mut self,
        asked: Asked,
        status: CommandStatus,
        ctx: &mut Context<Self>,
    ) {
        match asked.multi {
            Some(_) => self.multi_result(asked, Err(status), ctx),
            None => self.write(pdu::error_resp(asked.resp, status, asked.seq), ctx),
        }
    }

    /// A submit_sm read at `t0`.
    pub(super) fn on_submit(&mut self, cmd: Command, t0: Instant, ctx: &mut Context<Self>) {
        let asked = Asked::submit_sm(cmd.sequence_number());
        let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
            return self.refuse_bodyless(asked, ctx);
        };
        self.submit(asked, sm, &cmd, t0, ctx);
    }

    /// A data_sm read at `t0`: taken as the submit_sm it amounts to (its text in
    /// message_payload), answered with data_sm_resp.
    pub(super) fn on_data_sm(&mut self, cmd: Command, t0: Instant, ctx: &mut Context<Self>) {
        let seq = cmd.sequence_number();
        let asked = Asked {
            seq,
            resp: CommandId::DataSmResp,
            multi: None,
        };
        let Some(Pdu::DataSm(d)) = cmd.pdu() else {
            return self.refuse_bodyless(asked, ctx);
        };
        // read back as it will be stored and resumed: the TLVs typed (message_payload
        // counted and split like a submit_sm's), the PDU no longer than tern takes
        let as_submit = Command::new(CommandStatus::EsmeRok, seq, pdu::submit_from_data_sm(d));
        let mut raw = BytesMut::new();
        let mut codec = CommandCodec::new().with_max_length(crate::protocol::codec::MAX_PDU);
        let decoded = match codec.encode(&as_submit, &mut raw) {
            Ok(()) => tokio_util::codec::Decoder::decode(&mut codec, &mut raw),
            Err(_) => return self.refuse_submit(asked, CommandStatus::EsmeRinvmsglen, ctx),
        };
        match decoded {
            Ok(Some(cmd)) => match cmd.pdu() {
                Some(Pdu::SubmitSm(sm)) => self.submit(asked, sm, &cmd, t0, ctx),
                _ => self.refuse_submit(asked, CommandStatus::EsmeRsyserr, ctx),
            },
            _ => self.refuse_submit(asked, CommandStatus::EsmeRinvmsglen, ctx),
        }
    }

    /// A submit or data_sm with no body: not bound to send, or too short to be one.
    pub(super) fn refuse_bodyless(&mut self, asked: Asked, ctx: &mut Context<Self>) {
        let status = match &self.state {
            BindState::Bound { mode, .. } if *mode != Mode::Receiver => {
                CommandStatus::EsmeRinvcmdlen
            }
            _ => CommandStatus::EsmeRinvbndsts,
        };
        self.refuse_submit(asked, status, ctx);
    }

    /// Checks a submit and hands it to the ledger (or holds it back); `cmd` is the
    /// submit_sm as it is stored.
    pub(super) fn submit(
        &mut self,
        asked: Asked,
        sm: &SubmitSm,
        cmd: &Command,
        t0: Instant,
        ctx: &mut Context<Self>,
    ) {
        crate::failpoint::hit("esme.submit");
        let seq = asked.seq;
        let account = match &self.state {
            BindState::Bound { account, mode, .. } if *mode != Mode::Receiver && !self.released => {
                // the account as it is now: an operator may have changed its price or
                // senders since the bind (or deleted it: its binds are being closed)
                let live = self.env.accounts.borrow().get(&account.system_id).cloned();
                match live {
                    Some(live) => live,
                    None => {
                        return self.answer_refusal(asked, CommandStatus::EsmeRinvbndsts, ctx);
                    }
                }
            }
            _ => {
                return self.answer_refusal(asked, CommandStatus::EsmeRinvbndsts, ctx);
            }
        };
        if self.pending.len() + self.held.len() >= self.env.max_pending {
            return self.refuse_submit(asked, CommandStatus::EsmeRmsgqful, ctx);
        }
        let source = sm.source_addr.to_string();
        if !account.source_allowed(&source) {
            return self.refuse_submit(asked, CommandStatus::EsmeRinvsrcadr, ctx);
        }
        let raw_dest = sm.destination_addr.to_string();
        let dest = match check_destination(
            &raw_dest,
            u8::from(sm.dest_addr_ton),
            u8::from(sm.dest_addr_npi),
        ) {
            Ok(d) => d.to_string(),
            Err(_) => return self.refuse_submit(asked, CommandStatus::EsmeRinvdstadr, ctx),
        };
        if self
            .env
            .suppressions
            .contains(&account.system_id, &dest, &source)
        {
            // the handset opted out of this number's messages: never charged, never sent
            metrics::counter!("tern_suppressed_total", "account" => account.system_id.clone())
                .increment(1);
            return self.refuse_submit(asked, CommandStatus::EsmeRsubmitfail, ctx);
        }
        let Some(route) = self.env.routes.borrow().lookup(&dest) else {
            return self.refuse_submit(asked, CommandStatus::EsmeRsubmitfail, ctx);
        };
        if self.env.backlogs.full(&route) {
            // its carriers are down with as many messages waiting as they may hold
            return self.refuse_submit(asked, CommandStatus::EsmeRmsgqful, ctx);
        }
        // a validity already over, or not an SMPP time, is refused before anything is charged
        let now = now_ms();
        let expires_ms = match expiry_ms(sm.validity_period.as_str(), now) {
            Ok(Some(t)) if t <= now => {
                return self.refuse_submit(asked, CommandStatus::EsmeRinvexpiry, ctx);
            }
            Ok(v) => v,
            Err(_) => return self.refuse_submit(asked, CommandStatus::EsmeRinvexpiry, ctx),
        };
        let (octets, dc, esm) = message_shape(sm);
        let meta = MessageMeta {
            id: String::new(),
            account: account.system_id.clone(),
            source,
            source_ton: u8::from(sm.source_addr_ton),
            source_npi: u8::from(sm.source_addr_npi),
            dest,
            registered_delivery: u8::from(sm.registered_delivery),
            parts: parts(octets, dc, esm & UDHI != 0),
            charged: Micros(0),
            // set when it goes to the ledger (it may be held back first)
            accepted_ms: 0,
            expires_ms,
            part_of: None,
        };
        let mut raw = BytesMut::new();
        if CommandCodec::new().encode(cmd, &mut raw).is_err() {
            return self.refuse_submit(asked, CommandStatus::EsmeRsyserr, ctx);
        }
        let accept = match self.split_for(sm, &route, &meta, account.price, seq) {
            Some(Ok(parts)) => parts,
            Some(Err(())) => return self.refuse_submit(asked, CommandStatus::EsmeRsyserr, ctx),
            None => ToLedger::One(Accept {
                meta,
                price: account.price,
                sm: sm.clone(),
                raw: raw.to_vec(),
                reply: ReplyTo::nobody(),
            }),
        };
        let submit = HeldSubmit {
            asked,
            t0,
            accept,
            route,
        };
        if !self.held.is_empty() || self.env.backlogs.over(&submit.route) {
            // flow control: its carrier is behind (or others wait already, and order is
            // kept): answer it once the carrier catches up
            self.held.push_back(submit);
            self.wake_held(ctx);
            return;
        }
        self.send_to_ledger(submit, ctx);
    }

    /// The parts of a submit whose text is in a message_payload longer than one SMS, when a
    /// carrier of its route joins parts by UDH only: stored and charged as parts (one
    /// message id for the ESME, one receipt when every part has ended). `None`: it goes as
    /// one message; `Some(Err)`: a part could not be encoded.
    pub(super) fn split_for(
        &mut self,
        sm: &SubmitSm,
        route: &RouteEntry,
        meta: &MessageMeta,
        price: Micros,
        seq: u32,
    ) -> Option<Result<ToLedger, ()>> {
        if meta.parts < 2
            || !route
                .carriers()
                .iter()
                .any(|c| self.env.carriers.joins_by_udh(c))
        {
            return None;
        }
        let next = self
            .env
            .references
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reference = crate::domain::encoding::Reference::Eight(next as u8);
        let parts = pdu::payload_parts(sm, reference)?;
        let total = u8::try_from(parts.len()).ok()?;
        let mut new_parts = Vec::with_capacity(parts.len());
        for (part, i) in parts.into_iter().zip(1..=total) {
            let mut raw = BytesMut::new();
            let cmd = Command::new(CommandStatus::EsmeRok, seq, part.clone());
            if CommandCodec::new().encode(&cmd, &mut raw).is_err() {
                return Some(Err(()));
            }
            new_parts.push(NewPart {
                meta: MessageMeta {
                    // the ESME asked for one receipt for its one submit: it comes from the
                    // parts' ends together, not from each
                    registered_delivery: 0,
                    parts: 1,
                    part_of: Some(crate::domain::message::PartOf {
                        message: String::new(),
                        seq: i,
                        total,
                    }),
                    ..meta.clone()
                },
                sm: part,
                raw: raw.to_vec(),
            });
        }
        let record = crate::store::keys::ApiMessage {
            key_id: String::new(),
            callback_url: None,
            client_ref: None,
            parts: Vec::new(),
            to: meta.dest.clone(),
            from: meta.source.clone(),
            data_coding: u8::from(sm.data_coding),
            esme_receipt: Some(meta.registered_delivery),
        };
        Some(Ok(ToLedger::Parts(AcceptParts {
            account: meta.account.clone(),
            price,
            parts: new_parts,
            record,
            remember: None,
            held: None,
            done: PartsAnswer::Esme(ReplyTo::nobody()),
        })))
    }

    /// Schedules a look at the held submits.
    pub(super) fn wake_held(&mut self, ctx: &mut Context<Self>) {
        if self.held_wake {
            return;
        }
        self.held_wake = true;
        ctx.run_later(HOLD_STEP, |act, ctx| {
            act.held_wake = false;
            act.release_held(ctx);
        });
    }

    /// Hands on the held submits whose carrier has caught up, or that waited long enough.
    pub(super) fn release_held(&mut self, ctx: &mut Context<Self>) {
        while let Some(h) = self.held.front() {
            if self.env.backlogs.over(&h.route) && h.t0.elapsed() < MAX_HOLD {
                return self.wake_held(ctx);
            }
            if let Some(h) = self.held.pop_front() {
                self.send_to_ledger(h, ctx);
            }
        }
    }

    /// The session is ending: the submits still held back are answered ESME_RMSGQFUL (none
    /// was charged or stored), so the ESME knows to send them again.
    pub(super) fn refuse_held(&mut self, ctx: &mut Context<Self>) {
        while let Some(h) = self.held.pop_front() {
            self.refuse_submit(h.asked, CommandStatus::EsmeRmsgqful, ctx);
        }
    }

    /// Charges and stores a checked submit; the ledger's [`Answer`] says when it is done.
    pub(super) fn send_to_ledger(&mut self, submit: HeldSubmit, ctx: &mut Context<Self>) {
        let HeldSubmit {
            asked, t0, accept, ..
        } = submit;
        let tag = self.next_tag;
        self.next_tag += 1;
        let reply = ReplyTo::new(ctx.address().recipient(), tag);
        self.pending.insert(tag, (asked, t0));
        let now = now_ms();
        match accept {
            ToLedger::One(mut accept) => {
                accept.meta.accepted_ms = now;
                accept.reply = reply;
                self.env
                    .ledgers
                    .for_key(&accept.meta.account)
                    .do_send(accept);
            }
            ToLedger::Parts(mut parts) => {
                for p in &mut parts.parts {
                    p.meta.accepted_ms = now;
                }
                parts.done = PartsAnswer::Esme(reply);
                self.env.ledgers.for_key(&parts.account).do_send(parts);
            }
        }
    }
}

impl Handler<Answer<Accepted>> for EsmeSession {
    type Result = ();
    fn handle(&mut self, a: Answer<Accepted>, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| {
            let Some((asked, t0)) = this.pending.remove(&a.tag) else {
                return;
            };
            let status = match a.value {
                Ok(id) => {
                    if let Some(c) = &this.submit_ok {
                        c.increment(1);
                    }
                    this.submits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    this.latency.record(t0.elapsed().as_secs_f64());
                    let ok = match asked.resp {
                        CommandId::DataSmResp => pdu::data_sm_resp_ok(asked.seq, &id),
                        CommandId::SubmitMultiResp => {
                            return this.multi_result(asked, Ok(id), ctx);
                        }
                        _ => pdu::submit_sm_resp_ok(asked.seq, &id),
                    };
                    return this.write(ok, ctx);
                }
                Err(Refusal::Throttled) => CommandStatus::EsmeRthrottled,
                Err(Refusal::NoCredit) => CommandStatus::EsmeRsubmitfail,
                Err(Refusal::QueueFull) => CommandStatus::EsmeRmsgqful,
                Err(Refusal::Failed) => CommandStatus::EsmeRsyserr,
            };
            this.refuse_submit(asked, status, ctx);
        });
    }
}
