//! MO by webhook: an MO (or the parts of one, joined) signed with the account's newest API
//! key's secret and sent; given back to Delivery when a receiver binds for its account.

use super::*;

impl Webhooks {
    /// Gives an MO's webhook up to Delivery (a receiver is bound for its account now).
    pub(super) fn hand_back(&mut self, message: &str) {
        let Some(p) = self.pending.remove(message) else {
            return;
        };
        self.due.retain(|(_, m)| m != message);
        if let (Ends::Mo(parts), Some(d)) = (p.ends, &self.delivery) {
            d.do_send(MoBack(parts));
        }
    }

    /// A receiver bound for `account`: its MO waiting for a retry or for the rest of their
    /// parts go back to Delivery now; those being sent go back if the attempt fails.
    pub(super) fn give_back(&mut self, account: &str) {
        let ids: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.account == account && matches!(p.ends, Ends::Mo(_)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if self.due.iter().any(|(_, m)| *m == id) {
                self.hand_back(&id);
            } else if let Some(p) = self.pending.get_mut(&id) {
                p.give_back = true;
            }
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
        let held = |id: &str| {
            self.pending.contains_key(id)
                || self.finishing.contains(id)
                || self.assembling.holds(|(p, _)| p.id == id)
        };
        if held(&mo.id) {
            return Ok(());
        }
        let account = mo.account.clone().unwrap_or_default();
        let Some(endpoint) = endpoint(&m.url) else {
            return Err("its account's webhook_url cannot be sent to".into());
        };
        let secret = self
            .kv
            .scan_prefix(keys::API_KEY_PREFIX)
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| keys::decode::<ApiKey>(&v).ok())
            .filter(|k| k.account == account && k.revoked_ms.is_none())
            .max_by_key(|k| k.created_ms)
            .map(|k| k.webhook_secret)
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
