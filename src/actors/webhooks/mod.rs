//! `Webhooks`: tells each client of the customer API how its message ended, by an HTTP
//! POST to the message's `callback_url`, signed per Standard Webhooks (`domain::webhook`).
//!
//! Durable: a part's end is stored with a `w/<message>/<part>` marker, and the markers go
//! only once the webhook is delivered (2xx), refused for good (410) or past the receipt
//! TTL (counted from the last part's end); a start reads the markers back and sends what is
//! still due. So a webhook may come twice (a crash between its 2xx and the markers'
//! removal), never not at all, and every attempt carries the same `webhook-id` for the
//! receiver to drop repeats.
//!
//! A webhook is made only from parts whose end is durable ([`PartEnded`] comes after the
//! commit, the resume scan reads only what was stored) and whose markers are all still
//! there, so a part's end seen before its commit never shows in a webhook, and a message
//! whose markers are being removed is never sent again.
//!
//! It goes to the message's `callback_url`, else its account's `webhook_url` as the
//! account is when the message ends; with neither, none is sent.
//!
//! A message's webhook goes once all its parts have ended, with each part's state (the view
//! of `GET /v1/messages/{id}`). Failed attempts are tried again with exponential backoff and
//! jitter, from one timer for all of them (a sorted set of due times), so a webhook waiting
//! costs nothing until it is due. At most [`PER_ENDPOINT`] requests are in flight per
//! endpoint; the rest wait in that endpoint's queue, so a slow receiver holds only its own.
//!
//! A message an ESME submitted in one submit_sm and tern split into UDH parts for its
//! carrier (`x/` record with `esme_receipt`) gets no webhook: once its parts have all
//! ended, one receipt for the id the ESME holds goes to its outbox, in the batch that
//! removes the markers, and on to Delivery.
//!
//! An MO for an account with no receiver bound comes from Delivery ([`SendMo`]) and goes to
//! the account's `webhook_url` as `{"type": "mo"}`, signed with the secret of the account's
//! newest live API key (an account with none gets no MO webhook: the MO waits for a bind).
//! Its durable marker is its outbox entry, removed (and its record marked delivered or
//! expired) in the tick's batch once it is done with; the MO's deadline is its own expiry.
//!
//! A part of a concatenated MO waits for the rest (5 minutes at most, then each goes on
//! alone with its `part`), and they go as one webhook with the whole text. When a receiver
//! binds for the account, the MO still waiting come back to Delivery ([`GiveBackMo`]).
//!
//! Messages: [`PartEnded`] (from Delivery: a part's end is stored), [`SendMo`], [`GiveBackMo`],
//! [`SetDelivery`] (once Delivery runs), [`SetApiKeys`] (once the registry runs), `Tick`
//! (its timer).

mod mo;

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::watch;

use super::FastMap;
use super::delivery::{Delivery, MoBack, MoWebhookDone, NewReceipt, PartEnded};
use super::store::StoreHandle;
use super::supervise::{Restart, guard};
use crate::accounts::AccountTable;
use crate::api_keys::ApiKey;
use crate::domain::backoff::Backoff;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::message::{MessageState, combined_state};
use crate::domain::mo::{Mo, MoState, PartsKey, Reassembly};
use crate::domain::webhook::{Verdict, endpoint, signature, verdict};
use crate::secret::Secret;
use crate::store::keys::OutboxReceipt;
use crate::store::keys::{self, ApiMessage};
use crate::store::kv::{Kv, WriteBatch};
use crate::store::messages::{self, MessageRecord};
use crate::store::record;

/// Requests in flight to one endpoint at most: enough that a busy receiver on the same
/// network keeps up (4 held one local receiver to 8,200 webhooks/s, 16 to 11,600:
/// loadtest/README.md), few enough that one slow receiver ties up little.
pub const PER_ENDPOINT: usize = 16;
/// How long an attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry waits about this long; each next one twice as long, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(600);
/// How often due retries are looked for.
const TICK: Duration = Duration::from_millis(100);
/// How long the parts of a concatenated MO wait for the rest before each goes on alone.
const REASSEMBLY_WAIT_MS: u64 = 5 * 60 * 1000;
/// A webhook the store could not be read for is made again after this long.
const PREPARE_AGAIN: Duration = Duration::from_secs(5);

/// A webhook on its way.
struct Pending {
    account: String,
    url: String,
    endpoint: String,
    secret: Secret,
    body: Bytes,
    /// Its `webhook-id`, the same on every attempt.
    webhook_id: String,
    /// What to remove once it is done.
    ends: Ends,
    /// Past this (Unix ms), it is given up.
    deadline_ms: u64,
    backoff: Backoff,
    /// An MO whose account has a receiver bound now: handed back to Delivery instead of
    /// being tried again.
    give_back: bool,
}

/// What a webhook stands for, removed from the store once it is done with.
enum Ends {
    /// A message's parts, each with its `w/` marker.
    Parts(Vec<String>),
    /// An MO (or the parts of one), waiting in its account's outbox.
    Mo(Vec<Mo>),
}

/// Send this MO to its account's webhook (from Delivery: no receiver is bound).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendMo {
    /// The MO (stored in the outbox).
    pub mo: Box<Mo>,
    /// The account's webhook_url.
    pub url: String,
}

/// A receiver bound for this account: its MO still waiting for their webhook come back
/// to Delivery (those being sent come back if the attempt fails).
#[derive(Message)]
#[rtype(result = "()")]
pub struct GiveBackMo {
    /// The account.
    pub account: String,
}

/// The webhook sender (one per node).
pub struct Webhooks {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    accounts: watch::Receiver<Arc<AccountTable>>,
    receipt_ttl_ms: u64,
    /// Where receipts for ESMEs go (Delivery starts after this actor).
    delivery: Option<Addr<Delivery>>,
    /// The live API keys, whose secrets sign MO webhooks (the registry starts after this
    /// actor).
    api_keys: Option<watch::Receiver<Arc<crate::api_keys::ApiKeyTable>>>,
    client: Option<awc::Client>,
    pending: FastMap<String, Pending>,
    /// Parts whose end is durable, of messages some part of which has not ended yet.
    ended: FastMap<String, HashSet<String>>,
    /// Messages done with whose markers are being removed: not made again meanwhile.
    finishing: HashSet<String>,
    removing: Removals,
    /// Retries by due time (Unix ms, message id).
    due: BTreeSet<(u64, String)>,
    /// Requests in flight per endpoint.
    in_flight: FastMap<String, usize>,
    queued: FastMap<String, VecDeque<String>>,
    /// Parts of concatenated MO waiting for the rest, with where they go.
    assembling: Reassembly<(Mo, Target)>,
}

/// Where an MO's webhook goes and what signs it.
#[derive(Clone)]
struct Target {
    url: String,
    endpoint: String,
    secret: Secret,
}

/// Delivery runs: receipts for ESMEs go here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetDelivery(pub Addr<Delivery>);

/// The registry runs: the live API keys, as they change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetApiKeys(pub watch::Receiver<Arc<crate::api_keys::ApiKeyTable>>);

/// Marker removals (and receipts for ESMEs) waiting for the next tick's commit.
#[derive(Default)]
struct Removals {
    batch: WriteBatch,
    messages: Vec<String>,
    receipts: Vec<OutboxReceipt>,
    /// MO done with: (account, id).
    mo: Vec<(String, String)>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

impl Webhooks {
    /// The sender; webhooks due at the last stop are sent again once it runs.
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        accounts: watch::Receiver<Arc<AccountTable>>,
        receipt_ttl_ms: u64,
    ) -> Webhooks {
        Webhooks {
            kv,
            store,
            accounts,
            receipt_ttl_ms,
            delivery: None,
            api_keys: None,
            client: None,
            pending: FastMap::default(),
            ended: FastMap::default(),
            finishing: HashSet::new(),
            removing: Removals::default(),
            due: BTreeSet::new(),
            in_flight: FastMap::default(),
            queued: FastMap::default(),
            assembling: Reassembly::default(),
        }
    }

    /// The HTTP client, made on the actor's own thread (awc's client is not `Send`).
    fn client(&mut self) -> awc::Client {
        self.client
            .get_or_insert_with(|| {
                let tls = crate::protocol::tls::client_config(None).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "webhooks over https cannot be verified: no system roots");
                    crate::protocol::tls::client_config_without_roots()
                });
                awc::Client::builder()
                    .connector(awc::Connector::new().rustls_0_23(Arc::new(tls)))
                    .timeout(ATTEMPT_TIMEOUT)
                    .disable_redirects()
                    .finish()
            })
            .clone()
    }

    /// A part of `m.message` ended: once every part has, its webhook is made and sent.
    fn part_ended(&mut self, m: PartEnded, ctx: &mut Context<Self>) {
        if self.pending.contains_key(&m.message) || self.finishing.contains(&m.message) {
            return;
        }
        self.ended
            .entry(m.message.clone())
            .or_default()
            .insert(m.part.clone());
        match self.prepare(&m) {
            Ok(Some(p)) => {
                self.ended.remove(&m.message);
                self.pending.insert(m.message.clone(), p);
                self.attempt(m.message, ctx);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(message_id = %m.message, error = %e, "webhook not made; trying again");
                ctx.run_later(PREPARE_AGAIN, move |_, ctx| ctx.notify(m));
            }
        }
    }

    /// The webhook of a message whose parts have all ended; `None` while one has not, or
    /// when it wants none (its markers are removed then).
    fn prepare(&mut self, m: &PartEnded) -> Result<Option<Pending>, String> {
        let kv = self.kv.clone();
        let kv = &*kv;
        let Some(raw) = kv
            .get(&keys::api_message(&m.message))
            .map_err(|e| e.to_string())?
        else {
            self.ended.remove(&m.message);
            return Ok(None);
        };
        let api: ApiMessage = keys::decode(&raw).map_err(|e| e.to_string())?;
        // a part whose end is not known durable yet: its own PartEnded brings it back here
        let known = self.ended.get(&m.message).map_or(0, HashSet::len);
        if known < api.parts.len() {
            return Ok(None);
        }
        let mut first = None;
        let mut last_end_ms = 0;
        let mut states = Vec::with_capacity(api.parts.len());
        for id in &api.parts {
            // markers gone: the webhook was done with (a repeat from the resume scan)
            if kv
                .get(&keys::webhook_due(&m.message, id))
                .map_err(|e| e.to_string())?
                .is_none()
            {
                self.ended.remove(&m.message);
                return Ok(None);
            }
            match messages::record_of(kv, id).map_err(|e| e.to_string())? {
                Some(r) if r.state().is_final() => {
                    last_end_ms = last_end_ms.max(r.events.last().map_or(0, |e| e.at_ms));
                    states.push(r.state());
                    first.get_or_insert(r);
                }
                _ => return Err(format!("part {id} has a marker but no end")),
            }
        }
        if let (Some(rd), Some(first)) = (api.esme_receipt, &first) {
            self.receipt_for_esme(&m.message, api.parts, rd, &states, first, last_end_ms)?;
            return Ok(None);
        }
        let fallback = || {
            let accounts = self.accounts.borrow();
            accounts.get(&m.account).and_then(|a| a.webhook_url.clone())
        };
        let Some(url) = api.callback_url.clone().or_else(fallback) else {
            self.forget(&m.message, &m.account, api.parts, "none");
            return Ok(None);
        };
        let Some(endpoint) = endpoint(&url) else {
            tracing::warn!(message_id = %m.message, "webhook dropped: its URL cannot be sent to");
            self.forget(&m.message, &m.account, api.parts, "dropped");
            return Ok(None);
        };
        let secret = match kv
            .get(&keys::api_key(&api.key_id))
            .map_err(|e| e.to_string())?
        {
            Some(v) => {
                keys::decode::<ApiKey>(&v)
                    .map_err(|e| e.to_string())?
                    .webhook_secret
            }
            None => {
                // a revoked key keeps its record, so this is a store that lost it: nothing is
                // sent unsigned
                tracing::warn!(message_id = %m.message, key_id = %api.key_id, "webhook dropped: its API key is not in the store");
                self.forget(&m.message, &m.account, api.parts, "dropped");
                return Ok(None);
            }
        };
        let Some(first) = first else {
            return Ok(None);
        };
        let data = crate::http::customer::view::message(kv, &m.account, &first)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let body = json!({"type": "message.final", "timestamp": rfc3339(now_ms()), "data": data});
        Ok(Some(Pending {
            account: m.account.clone(),
            url,
            endpoint,
            secret,
            body: Bytes::from(body.to_string()),
            webhook_id: format!("msg_{}", m.message),
            ends: Ends::Parts(api.parts),
            give_back: false,
            deadline_ms: last_end_ms.saturating_add(self.receipt_ttl_ms),
            backoff: Backoff::new(FIRST_WAIT, MAX_WAIT),
        }))
    }

    /// The one receipt an ESME gets for a message tern split: the parts' combined end, put
    /// in its outbox in the batch that removes the markers, then handed to Delivery.
    fn receipt_for_esme(
        &mut self,
        message: &str,
        parts: Vec<String>,
        registered_delivery: u8,
        states: &[MessageState],
        first: &MessageRecord,
        last_end_ms: u64,
    ) -> Result<(), String> {
        if self.delivery.is_none() {
            return Err("Delivery is not running yet".into());
        }
        let MessageState::Final { stat, err } = combined_state(states) else {
            return Err("a part has not ended".into());
        };
        // the first part's id is the message's, the one the ESME holds
        let receipt = super::receipt_wanted(registered_delivery, stat).then(|| {
            let expires_ms = now_ms().saturating_add(self.receipt_ttl_ms);
            super::receipt_for(&first.meta, stat, &err, last_end_ms, expires_ms)
        });
        if let Some(r) = &receipt {
            self.removing
                .batch
                .insert_new(keys::outbox(&r.account, &r.id), record::encode_outbox(r));
        }
        self.removing.receipts.extend(receipt);
        self.remove_markers(message, &parts);
        Ok(())
    }

    /// Queues the removal of a message's markers (committed with the others at the next
    /// tick, one batch for all); until it is applied the message is not made again.
    fn remove_markers(&mut self, message: &str, parts: &[String]) {
        self.ended.remove(message);
        self.finishing.insert(message.to_string());
        for part in parts {
            self.removing.batch.del(keys::webhook_due(message, part));
        }
        self.removing.messages.push(message.to_string());
    }

    /// Commits the queued removals (and receipts) in one batch; receipts go to Delivery
    /// once it is stored. What a failed commit held stays in the store and is made again
    /// after the next start.
    fn commit_removals(&mut self, ctx: &mut Context<Self>) {
        if self.removing.messages.is_empty() {
            return;
        }
        let Removals {
            batch,
            messages,
            receipts,
            mo,
        } = std::mem::take(&mut self.removing);
        let c = self.store.commit(batch);
        ctx.spawn(c.into_actor(self).map(move |done, act, _| {
            match done {
                Ok(()) => {
                    if let Some(d) = &act.delivery {
                        for r in receipts {
                            d.do_send(NewReceipt(r));
                        }
                        for (account, id) in mo {
                            d.do_send(MoWebhookDone { account, id });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(count = messages.len(), error = %e, "webhook markers not removed; made again after the next start");
                    // MO stay in the outbox: Delivery offers them again
                    if let Some(d) = &act.delivery {
                        for (account, id) in mo {
                            d.do_send(MoWebhookDone { account, id });
                        }
                    }
                }
            }
            for m in &messages {
                act.finishing.remove(m);
            }
        }));
    }

    /// Sends one attempt, or queues it behind its endpoint's requests in flight.
    fn attempt(&mut self, mut message: String, ctx: &mut Context<Self>) {
        let client = self.client();
        // an MO given back is not sent; the next one queued behind it goes instead
        while let Some(p) = self.pending.get(&message)
            && p.give_back
        {
            let endpoint = p.endpoint.clone();
            self.hand_back(&message);
            match self.queued.get_mut(&endpoint).and_then(VecDeque::pop_front) {
                Some(next) => message = next,
                None => return,
            }
        }
        let Some(p) = self.pending.get(&message) else {
            return;
        };
        let busy = self.in_flight.entry(p.endpoint.clone()).or_default();
        if *busy >= PER_ENDPOINT {
            self.queued
                .entry(p.endpoint.clone())
                .or_default()
                .push_back(message);
            return;
        }
        *busy += 1;
        let id = p.webhook_id.clone();
        let ts = now_ms() / 1000;
        let sig = match signature(p.secret.expose(), &id, ts, &p.body) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(message_id = %message, error = %e, "webhook secret unusable");
                *busy = busy.saturating_sub(1);
                return self.done(&message, "dropped");
            }
        };
        let req = client
            .post(&p.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("webhook-id", id))
            .insert_header(("webhook-timestamp", ts.to_string()))
            .insert_header(("webhook-signature", sig))
            .send_body(p.body.clone());
        let t0 = Instant::now();
        let fut = async move {
            match req.await {
                Ok(mut resp) => {
                    // read (a little of) the body so the connection can be used again
                    let _ = resp.body().limit(64 * 1024).await;
                    Some(resp.status().as_u16())
                }
                Err(_) => None,
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |status, act, ctx| {
            guard(act, ctx, |act, ctx| act.attempted(message, status, t0, ctx));
        }));
    }

    fn attempted(
        &mut self,
        message: String,
        status: Option<u16>,
        t0: Instant,
        ctx: &mut Context<Self>,
    ) {
        metrics::histogram!("tern_webhook_seconds").record(t0.elapsed().as_secs_f64());
        let Some(p) = self.pending.get_mut(&message) else {
            return;
        };
        let endpoint = p.endpoint.clone();
        let mut give_back = false;
        let outcome = match verdict(status) {
            Verdict::Delivered => Some("delivered"),
            Verdict::Gone => Some("gone"),
            Verdict::Again if p.give_back => {
                give_back = true;
                None
            }
            Verdict::Again => {
                let wait = p.backoff.next_delay(rand::random::<f64>());
                let at = now_ms().saturating_add(wait.as_millis() as u64);
                if at > p.deadline_ms {
                    tracing::warn!(message_id = %message, url = %p.url, "webhook not taken within the receipt TTL; given up");
                    Some("expired")
                } else {
                    tracing::debug!(message_id = %message, ?status, ?wait, "webhook not taken; trying again");
                    metrics::counter!("tern_webhook_total", "account" => p.account.clone(), "outcome" => "retried").increment(1);
                    self.due.insert((at, message.clone()));
                    None
                }
            }
        };
        if let Some(outcome) = outcome {
            self.done(&message, outcome);
        }
        if give_back {
            self.hand_back(&message);
        }
        self.release(&endpoint, ctx);
    }

    /// A request to `endpoint` ended: the next one queued for it goes. An endpoint with
    /// nothing in flight or queued is forgotten (clients name endpoints: they are many).
    fn release(&mut self, endpoint: &str, ctx: &mut Context<Self>) {
        if let Some(n) = self.in_flight.get_mut(endpoint) {
            *n = n.saturating_sub(1);
        }
        match self.queued.get_mut(endpoint).and_then(VecDeque::pop_front) {
            Some(next) => self.attempt(next, ctx),
            None => {
                self.queued.remove(endpoint);
                if self.in_flight.get(endpoint) == Some(&0) {
                    self.in_flight.remove(endpoint);
                }
            }
        }
    }

    /// The webhook is done with: its markers go (an MO's outbox entry, its record saying
    /// how it ended).
    fn done(&mut self, message: &str, outcome: &'static str) {
        let Some(p) = self.pending.remove(message) else {
            return;
        };
        match p.ends {
            Ends::Parts(parts) => self.forget(message, &p.account, parts, outcome),
            Ends::Mo(parts) if outcome != "delivered" && outcome != "expired" => {
                // refused for good (410) or not sendable: the MO waits in the outbox for a
                // receiver bind, or its expiry
                metrics::counter!("tern_webhook_total", "account" => p.account.clone(), "outcome" => outcome)
                    .increment(1);
                if let Some(d) = &self.delivery {
                    for mo in parts {
                        d.do_send(MoWebhookDone {
                            account: p.account.clone(),
                            id: mo.id,
                        });
                    }
                }
            }
            Ends::Mo(parts) => {
                metrics::counter!("tern_webhook_total", "account" => p.account.clone(), "outcome" => outcome)
                    .increment(1);
                let (end, how) = if outcome == "delivered" {
                    (MoState::Delivered, "webhook")
                } else {
                    (MoState::Expired, "expired")
                };
                metrics::counter!("tern_mo_total", "outcome" => how).increment(parts.len() as u64);
                self.finishing.insert(message.to_string());
                self.removing.messages.push(message.to_string());
                for mo in parts {
                    crate::store::mo::end(&mut self.removing.batch, &mo, end);
                    self.removing.mo.push((p.account.clone(), mo.id));
                }
            }
        }
    }

    /// Counts the outcome and removes the markers.
    fn forget(&mut self, message: &str, account: &str, parts: Vec<String>, outcome: &'static str) {
        metrics::counter!("tern_webhook_total", "account" => account.to_string(), "outcome" => outcome)
            .increment(1);
        self.remove_markers(message, &parts);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.commit_removals(ctx);
        if !self.assembling.is_empty() {
            self.send_overdue_parts(ctx);
        }
        let now = now_ms();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            if let Some((_, message)) = self.due.pop_first() {
                self.attempt(message, ctx);
            }
        }
    }

    /// Reads back the webhooks due at the last stop (on the blocking pool).
    fn resume(&mut self, ctx: &mut Context<Self>) {
        let kv = self.kv.clone();
        let scan = tokio::task::spawn_blocking(move || due_messages(&*kv));
        ctx.spawn(scan.into_actor(self).map(|found, act, ctx| {
            let found = found.unwrap_or_default();
            if !found.is_empty() {
                tracing::info!(count = found.len(), "webhooks due at the last stop resumed");
            }
            for m in found {
                guard(act, ctx, |act, ctx| act.part_ended(m, ctx));
            }
        }));
    }
}

/// Every stored webhook marker, as the part end it stands for.
fn due_messages(kv: &dyn Kv) -> Vec<PartEnded> {
    let mut out: Vec<PartEnded> = Vec::new();
    for (k, v) in kv
        .scan_prefix(keys::WEBHOOK_DUE_PREFIX)
        .into_iter()
        .flatten()
    {
        let key = String::from_utf8_lossy(&k[keys::WEBHOOK_DUE_PREFIX.len()..]).into_owned();
        let Some((message, part)) = key.split_once('/') else {
            continue;
        };
        out.push(PartEnded {
            message: message.to_string(),
            part: part.to_string(),
            account: String::from_utf8_lossy(&v).into_owned(),
        });
    }
    out
}

impl Actor for Webhooks {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(65_536);
        ctx.run_interval(TICK, |_, ctx| ctx.notify(Tick));
        self.resume(ctx);
    }
}

impl Restart for Webhooks {
    const NAME: &'static str = "webhooks";

    /// Pending webhooks stay; every one not waiting for its retry (in flight or queued
    /// when the handler crashed) is tried again now, and the per-endpoint counts start
    /// over. A request still in flight may so be sent twice: at least once, as always.
    fn restart(&mut self, _: &mut Context<Self>) {
        let waiting: HashSet<&String> = self.due.iter().map(|(_, m)| m).collect();
        let now = now_ms();
        let again: Vec<String> = self
            .pending
            .keys()
            .filter(|m| !waiting.contains(m))
            .cloned()
            .collect();
        for m in again {
            self.due.insert((now, m));
        }
        self.in_flight.clear();
        self.queued.clear();
    }
}

impl Handler<SetApiKeys> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: SetApiKeys, _: &mut Context<Self>) {
        self.api_keys = Some(m.0);
    }
}

impl Handler<SetDelivery> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: SetDelivery, _: &mut Context<Self>) {
        self.delivery = Some(m.0);
    }
}

impl Handler<GiveBackMo> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: GiveBackMo, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, _| this.give_back(&m.account));
    }
}

impl Handler<SendMo> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: SendMo, ctx: &mut Context<Self>) {
        let (id, m_account) = (m.mo.id.clone(), m.mo.account.clone());
        if let Some(Err(e)) = guard(self, ctx, |this, ctx| this.send_mo(m, ctx)) {
            // it stays in the outbox: a receiver bind takes it, or it expires there
            tracing::warn!(id = %id, error = %e, "MO not sent by webhook");
            if let (Some(d), Some(account)) = (&self.delivery, m_account) {
                d.do_send(MoWebhookDone { account, id });
            }
        }
    }
}

impl Handler<PartEnded> for Webhooks {
    type Result = ();
    fn handle(&mut self, m: PartEnded, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.part_ended(m, ctx));
    }
}

impl Handler<Tick> for Webhooks {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        guard(self, ctx, |this, ctx| this.tick(ctx));
    }
}
