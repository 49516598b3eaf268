//! MO by webhook: an MO (or the parts of one, joined) signed with the account's newest API
//! key's secret and sent; given back to Delivery when a receiver binds for its account.

use super::*;

impl Webhooks {
    /// Gives an MO's webhook up to Delivery (a receiver is bound for its account now).
    /// The caller has taken it out of `due` if it was there.
    pub(super) fn hand_back(&mut self, message: &str) {
        let Some(p) = self.pending.remove(message) else {
            return;
        };
        if let (Ends::Mo(parts), Some(d)) = (p.ends, &self.delivery) {
            d.do_send(MoBack(parts));
        }
    }

    /// A receiver bound for `account`: its MO waiting for a retry or for the rest of their
    /// parts go back to Delivery now; those being sent go back if the attempt fails.
    pub(super) fn give_back(&mut self, account: &str) {
        let mut mo: HashSet<String> = HashSet::new();
        for (id, p) in self.pending.iter_mut() {
            if p.account == account && matches!(p.ends, Ends::Mo(_)) {
                // those in flight or queued go back if their attempt fails
                p.give_back = true;
                mo.insert(id.clone());
            }
        }
        // those waiting for a retry go back now: one pass over the retries
        let mut waiting = Vec::new();
        self.due.retain(|(_, m)| {
            let take = mo.contains(m);
            if take {
                waiting.push(m.clone());
            }
            !take
        });
        for id in waiting {
            self.hand_back(&id);
        }
        let parts: Vec<Mo> = self
            .assembling
            .take_where(|k| k.account == account)
            .into_iter()
            .map(|(mo, _)| mo)
            .collect();
        if let (false, Some(d)) = (parts.is_empty(), &self.delivery) {
            d.do_send(MoBack(parts));
        }
    }

    /// An MO's webhook: made and sent, unless the account has no live API key to sign it
    /// with (then it waits in the outbox for a receiver bind, or its expiry). A part of a
    /// concatenated MO waits for the rest, and they go as one.
    pub(super) fn send_mo(&mut self, m: SendMo, ctx: &mut Context<Self>) -> Result<(), String> {
        let mo = *m.mo;
        // Delivery hands an MO over once while the webhooks hold it (a part waiting for the
        // rest included)
        if self.pending.contains_key(&mo.id) || self.finishing.contains(&mo.id) {
            return Ok(());
        }
        let account = mo.account.clone().unwrap_or_default();
        let Some(endpoint) = endpoint(&m.url) else {
            return Err("its account's webhook_url cannot be sent to".into());
        };
        let secret = self
            .api_keys
            .as_ref()
            .and_then(|keys| {
                let keys = keys.borrow();
                keys.values()
                    .filter(|k| k.account == account)
                    .max_by_key(|k| k.created_ms)
                    .map(|k| k.webhook_secret.clone())
            })
            .ok_or("its account has no API key to sign webhooks with")?;
        let target = Target {
            url: m.url,
            endpoint,
            secret,
        };
        match mo
            .concat
            .filter(|c| c.total > 1 && (1..=c.total).contains(&c.seq))
        {
            Some(c) => {
                let key = PartsKey {
                    account,
                    from: mo.from.clone(),
                    to: mo.to.clone(),
                    reference: c.reference,
                    total: c.total,
                };
                let at = mo.received_ms;
                // the part that completes the message brings the account's target as it is now
                let now = target.clone();
                if let Some(whole) = self.assembling.add(key, c.seq, at, (mo, target)) {
                    let parts: Vec<Mo> = whole.parts.into_iter().map(|(p, _)| p).collect();
                    let data = crate::http::customer::view::mo_whole(&parts);
                    let mut all = parts;
                    all.extend(whole.repeats.into_iter().map(|(p, _)| p));
                    self.start_mo(all, data, now, ctx);
                }
            }
            None => {
                let data = crate::http::customer::view::mo(&mo);
                self.start_mo(vec![mo], data, target, ctx);
            }
        }
        Ok(())
    }

    /// Sends the webhook of an MO (its parts, the first named by `data`).
    pub(super) fn start_mo(
        &mut self,
        parts: Vec<Mo>,
        data: serde_json::Value,
        to: Target,
        ctx: &mut Context<Self>,
    ) {
        let Some(first) = parts.first() else {
            return;
        };
        let id = first.id.clone();
        let deadline_ms = parts.iter().map(|p| p.expires_ms).max().unwrap_or(0);
        let body = json!({"type": "mo", "timestamp": rfc3339(now_ms()), "data": data});
        self.pending.insert(
            id.clone(),
            Pending {
                account: first.account.clone().unwrap_or_default(),
                url: to.url,
                endpoint: to.endpoint,
                secret: to.secret,
                body: Bytes::from(body.to_string()),
                webhook_id: format!("mo_{id}"),
                deadline_ms,
                ends: Ends::Mo(parts),
                backoff: Backoff::new(FIRST_WAIT, MAX_WAIT),
                give_back: false,
            },
        );
        self.attempt(id, ctx);
    }

    /// Parts of concatenated MO whose rest has not come in time go on alone, each with its
    /// `part`.
    pub(super) fn send_overdue_parts(&mut self, ctx: &mut Context<Self>) {
        for (mo, target) in self.assembling.overdue(now_ms(), REASSEMBLY_WAIT_MS) {
            let data = crate::http::customer::view::mo(&mo);
            self.start_mo(vec![mo], data, target, ctx);
        }
    }
}
