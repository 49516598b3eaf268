//! The switch's entities as operators change them: accounts and the route table.
//!
//! The store is their truth. On the first start (an empty data dir) the config file seeds
//! it: its accounts (passwords hashed), their opening balances with an opening ledger
//! entry, and its routes, in one batch with one audit entry. On every later start they are
//! read back from the store and the file's `[[accounts]]` and `[[routes]]` are not applied
//! (a warning names what differs); the admin API changes them.
//!
//! Every change is serialized by one lock: read the current table, validate, commit the
//! new entity and its audit entry in one store batch (durable before anything answers),
//! then publish the new table through its `watch` channel, so the next submit sees it and
//! the ones in flight keep the table they started with. Balances are the Ledger's: the
//! registry writes only the opening balance of a new account.

use crate::secret::Secret;
use std::collections::HashSet;
use std::sync::Arc;

use actix::Addr;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, watch};

use crate::accounts::{self, Account, AccountTable};
use crate::actors::carrier::{Carrier, CarrierSet, Retire, SetStopped};
use crate::actors::delivery::{Delivery, UnbindAccount};
use crate::actors::store::StoreHandle;
use crate::api_keys::{ApiKey, ApiKeyTable, Issued};
use crate::config::{AccountConfig, CarrierConfig, Config};
use crate::domain::audit::{AuditEntry, without_secrets};
use crate::domain::backlog::{Backlog, Backlogs};
use crate::domain::clock::now_ms;
use crate::domain::ip_allow::IpAllowList;
use crate::domain::ledger_entry::{EntryKind, LedgerEntry};
use crate::domain::mo::{MoRoute, MoRouteTable, OptChange};
use crate::domain::money::Micros;
use crate::domain::route::{Route, RouteTable};
use crate::store::keys;
use crate::store::keys::Suppression;
use crate::store::kv::{Kv, WriteBatch};
use crate::suppressions::Suppressions;

/// An account as the store keeps it (`a/<system_id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAccount {
    /// SMPP system_id.
    pub system_id: String,
    /// argon2id PHC string.
    pub password_hash: Secret,
    /// submit_sm per second across its binds.
    pub tps: u32,
    /// Binds at once.
    pub max_binds: u32,
    /// Price per part.
    pub price: Micros,
    /// Sender ids it may use; empty: any.
    pub allowed_sources: Vec<String>,
    /// Peer addresses (CIDRs or single IPs) it may bind from; empty: any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Whether a message a carrier refuses for good (REJECTD) is refunded.
    #[serde(default)]
    pub refund_rejected: bool,
    /// Where webhooks go when a message names no `callback_url`; empty: none.
    #[serde(default)]
    pub webhook_url: String,
    /// Its own opt-out keywords; empty: the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opt_out_keywords: Vec<String>,
    /// Its own opt-in keywords; empty: the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opt_in_keywords: Vec<String>,
    /// Created, Unix ms.
    pub created_ms: u64,
    /// Deleted, Unix ms: the id stays taken, its messages and ledger readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<u64>,
}

impl StoredAccount {
    /// The account as the switch runs it.
    pub fn account(&self) -> Account {
        Account {
            system_id: self.system_id.clone(),
            password_hash: self.password_hash.clone(),
            tps: self.tps,
            max_binds: self.max_binds,
            price: self.price,
            allowed_sources: self.allowed_sources.clone(),
            // validated when it was stored; should it no longer parse, nobody gets in
            allowed_ips: IpAllowList::parse(&self.allowed_ips)
                .unwrap_or_else(|_| IpAllowList::closed()),
            refund_rejected: self.refund_rejected,
            webhook_url: (!self.webhook_url.is_empty()).then(|| self.webhook_url.clone()),
            keywords: crate::domain::mo::Keywords::new(
                (!self.opt_out_keywords.is_empty()).then_some(&self.opt_out_keywords[..]),
                (!self.opt_in_keywords.is_empty()).then_some(&self.opt_in_keywords[..]),
            ),
        }
    }

    /// The account as the admin API and the audit trail show it (no password, no hash).
    pub fn to_json(&self) -> Value {
        json!({
            "system_id": self.system_id,
            "tps": self.tps,
            "max_binds": self.max_binds,
            "price": self.price.to_string(),
            "allowed_sources": self.allowed_sources,
            "allowed_ips": self.allowed_ips,
            "refund_rejected": self.refund_rejected,
            "webhook_url": self.webhook_url,
            "opt_out_keywords": self.opt_out_keywords,
            "opt_in_keywords": self.opt_in_keywords,
            "created": crate::domain::clock::rfc3339(self.created_ms),
        })
    }
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A field is wrong (HTTP 400).
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the API names it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such entity (404).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// It clashes with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The store did not take it (503); nothing changed.
    #[error("not stored: {0}")]
    Store(String),
}

/// The first of `problems` as a refusal naming its field.
fn first_problem(problems: Vec<(&'static str, String)>) -> Result<(), Refused> {
    match problems.into_iter().next() {
        Some((field, message)) => Err(Refused::invalid(field, message)),
        None => Ok(()),
    }
}

impl Refused {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Refused {
        Refused::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A new account, as `POST /accounts` takes it (the config file's fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// SMPP system_id.
    pub system_id: String,
    /// SMPP password.
    pub password: Secret,
    /// submit_sm per second (default 100).
    #[serde(default)]
    pub tps: Option<u32>,
    /// Binds at once (default 4).
    #[serde(default)]
    pub max_binds: Option<u32>,
    /// Opening balance (default "0").
    #[serde(default)]
    pub balance: Option<String>,
    /// Price per part (default "0").
    #[serde(default)]
    pub price: Option<String>,
    /// Sender ids it may use.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Peer addresses it may bind from.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Refund messages carriers refuse for good.
    #[serde(default)]
    pub refund_rejected: bool,
    /// Webhook URL for messages that name none.
    #[serde(default)]
    pub webhook_url: String,
    /// Own opt-out keywords (empty: the defaults).
    #[serde(default)]
    pub opt_out_keywords: Vec<String>,
    /// Own opt-in keywords (empty: the defaults).
    #[serde(default)]
    pub opt_in_keywords: Vec<String>,
}

/// A change to an account, as `PUT /accounts/{id}` takes it: the fields given change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// The id again (must match the path when given).
    #[serde(default)]
    pub system_id: Option<String>,
    /// A new password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// New TPS.
    #[serde(default)]
    pub tps: Option<u32>,
    /// New bind limit.
    #[serde(default)]
    pub max_binds: Option<u32>,
    /// Refused: balances change through credits and debits.
    #[serde(default)]
    pub balance: Option<String>,
    /// New price.
    #[serde(default)]
    pub price: Option<String>,
    /// New sender list.
    #[serde(default)]
    pub allowed_sources: Option<Vec<String>>,
    /// New list of peer addresses.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// New refund setting.
    #[serde(default)]
    pub refund_rejected: Option<bool>,
    /// New webhook URL ("" removes it).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// New opt-out keywords ([] for the defaults).
    #[serde(default)]
    pub opt_out_keywords: Option<Vec<String>>,
    /// New opt-in keywords ([] for the defaults).
    #[serde(default)]
    pub opt_in_keywords: Option<Vec<String>>,
}

/// What the store holds at start, after the first start's seeding.
pub struct Loaded {
    /// Live accounts.
    pub accounts: AccountTable,
    /// The route table.
    pub routes: RouteTable,
    /// The MO route table.
    pub mo_routes: MoRouteTable,
    /// The carriers to run.
    pub carriers: Vec<CarrierConfig>,
}

/// Reads the accounts and routes from the store; on the first start, writes the config
/// file's into it first. Routes must name carriers the config has.
pub async fn load(kv: &Arc<dyn Kv>, store: &StoreHandle, cfg: &Config) -> Result<Loaded, String> {
    if kv
        .get(keys::CARRIERS_SEEDED)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        let mut batch = WriteBatch::default();
        for c in &cfg.carriers {
            batch.put(keys::carrier(&c.get_ref().id), keys::encode(c.get_ref()));
        }
        batch.put(keys::CARRIERS_SEEDED.to_vec(), b"1".to_vec());
        store.commit(batch).await.map_err(|e| e.to_string())?;
    }
    let stored_carriers = stored_carriers(&**kv)?;
    let carriers: HashSet<String> = stored_carriers.iter().map(|c| c.id.clone()).collect();
    if kv.get(keys::SEEDED).map_err(|e| e.to_string())?.is_none() {
        let batch = seed(kv, cfg).await?;
        store.commit(batch).await.map_err(|e| e.to_string())?;
        tracing::info!(
            accounts = cfg.accounts.len(),
            carriers = cfg.carriers.len(),
            routes = cfg.routes.len(),
            "store seeded from the config file"
        );
    }
    let stored = stored_accounts(&**kv)?;
    let routes = stored_routes(&**kv)?;
    // the file's MO routes seed the store once: on the first start, and on a store from
    // before MO routes were kept
    if kv
        .get(keys::MO_ROUTES)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        let file: Vec<MoRoute> = cfg.mo_routes.iter().map(|r| r.get_ref().clone()).collect();
        let mut batch = WriteBatch::default();
        batch.put(keys::MO_ROUTES.to_vec(), keys::encode(&file));
        store.commit(batch).await.map_err(|e| e.to_string())?;
    }
    let mo_routes = stored_mo_routes(&**kv)?;
    warn_if_file_differs(cfg, &stored, &routes, &mo_routes, &stored_carriers);
    let accounts = stored
        .into_iter()
        .filter(|a| a.deleted_ms.is_none())
        .map(|a| (a.system_id.clone(), Arc::new(a.account())))
        .collect();
    let routes = RouteTable::new(without_unknown_carriers(routes, &carriers), |c| {
        carriers.contains(c)
    })
    .map_err(|e| format!("stored route table: {e} (change it with PUT /api/v1/routes)"))?;
    // routes to accounts deleted since route nothing (the MO router checks the account)
    let mo_routes = MoRouteTable::new(mo_routes, |_| true).map_err(|e| {
        format!("stored MO route table: {e} (change it with PUT /api/v1/mo-routes)")
    })?;
    Ok(Loaded {
        accounts,
        routes,
        mo_routes,
        carriers: stored_carriers,
    })
}

fn stored_mo_routes(kv: &dyn Kv) -> Result<Vec<MoRoute>, String> {
    match kv.get(keys::MO_ROUTES).map_err(|e| e.to_string())? {
        Some(v) => keys::decode(&v).map_err(|e| format!("stored MO route table: {e}")),
        None => Ok(Vec::new()),
    }
}

/// The stored routes without the carriers the config file no longer has (each named in
/// an error line): tern starts, and those routes go on with the carriers left; a route left
/// with none is dropped, so its destinations fall to a shorter prefix.
fn without_unknown_carriers(routes: Vec<Route>, known: &HashSet<String>) -> Vec<Route> {
    routes
        .into_iter()
        .filter_map(|mut r| {
            let gone: Vec<usize> = (0..r.carriers.len())
                .filter(|&i| !known.contains(&r.carriers[i]))
                .collect();
            for &i in gone.iter().rev() {
                tracing::error!(prefix = %r.prefix, carrier = %r.carriers[i], "a stored route names a carrier tern does not have; left out until PUT /api/v1/routes");
                r.carriers.remove(i);
                if let Some(w) = &mut r.weights {
                    w.remove(i);
                }
            }
            if r.weights.as_ref().is_some_and(|w| w.iter().all(|&x| x == 0)) {
                r.weights = None;
            }
            (!r.carriers.is_empty()).then_some(r)
        })
        .collect()
}

/// The first start's batch: the file's accounts, opening balances and entries, routes.
async fn seed(kv: &Arc<dyn Kv>, cfg: &Config) -> Result<WriteBatch, String> {
    let acfgs: Vec<AccountConfig> = cfg.accounts.iter().map(|a| a.get_ref().clone()).collect();
    // argon2 is slow by design: off the async threads
    let hashed = tokio::task::spawn_blocking(move || {
        acfgs
            .into_iter()
            .map(|c| {
                let h = accounts::hash_password(c.password.expose());
                (c, h)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| e.to_string())?;
    let now = now_ms();
    let mut batch = WriteBatch::default();
    for (c, hash) in hashed {
        let a = StoredAccount {
            system_id: c.system_id.clone(),
            password_hash: hash?,
            tps: c.tps,
            max_binds: c.max_binds,
            price: Micros::parse(&c.price).map_err(|e| e.to_string())?,
            allowed_sources: c.allowed_sources.clone(),
            allowed_ips: c.allowed_ips.clone(),
            refund_rejected: c.refund_rejected,
            webhook_url: c.webhook_url.clone(),
            opt_out_keywords: c.opt_out_keywords.clone(),
            opt_in_keywords: c.opt_in_keywords.clone(),
            created_ms: now,
            deleted_ms: None,
        };
        // a data dir written before ledger entries existed keeps its balance as the opening
        let opening = match kv
            .get(&keys::balance(&a.system_id))
            .map_err(|e| e.to_string())?
        {
            Some(v) => read_balance(&v).ok_or("stored balance unreadable")?,
            None => Micros::parse(&c.balance).map_err(|e| e.to_string())?,
        };
        let has_entries = kv
            .scan_prefix(&keys::ledger_prefix(&a.system_id))
            .into_iter()
            .next()
            .is_some();
        if !has_entries {
            open_account(kv, &mut batch, &a.system_id, opening, "config")?;
        }
        batch.put(keys::account(&a.system_id), keys::encode(&a));
    }
    let routes: Vec<Route> = cfg.routes.iter().map(|r| r.get_ref().clone()).collect();
    batch.put(keys::ROUTES.to_vec(), keys::encode(&routes));
    let ids: Vec<&str> = cfg
        .accounts
        .iter()
        .map(|a| a.get_ref().system_id.as_str())
        .collect();
    audit(
        kv,
        &mut batch,
        "config",
        "config.seed",
        "",
        Value::Null,
        json!({"accounts": ids, "routes": routes}),
    )?;
    batch.put(keys::SEEDED.to_vec(), b"1".to_vec());
    Ok(batch)
}

/// Writes a new account's balance and its opening ledger entry into `batch`.
fn open_account(
    kv: &Arc<dyn Kv>,
    batch: &mut WriteBatch,
    id: &str,
    opening: Micros,
    from: &str,
) -> Result<(), String> {
    let seq = kv.generate_id().map_err(|e| e.to_string())?;
    let entry = LedgerEntry {
        seq,
        at_ms: now_ms(),
        kind: EntryKind::Opening,
        amount: opening,
        balance: opening,
        message_id: None,
        reason: None,
        operator: Some(from.to_string()),
    };
    batch.put(keys::balance(id), opening.0.to_be_bytes().to_vec());
    batch.put(keys::ledger_entry(id, seq), keys::encode(&entry));
    Ok(())
}

/// Adds an audit entry to `batch`.
pub fn audit(
    kv: &Arc<dyn Kv>,
    batch: &mut WriteBatch,
    from: &str,
    action: &str,
    target: &str,
    before: Value,
    after: Value,
) -> Result<(), String> {
    let seq = kv.generate_id().map_err(|e| e.to_string())?;
    let e = AuditEntry {
        seq,
        at_ms: now_ms(),
        from: from.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        before: without_secrets(before),
        after: without_secrets(after),
    };
    batch.put(keys::audit(seq), keys::encode(&e));
    Ok(())
}

fn read_balance(v: &[u8]) -> Option<Micros> {
    let b: [u8; 8] = v.try_into().ok()?;
    Some(Micros(i64::from_be_bytes(b)))
}

/// Every stored account, deleted ones included.
fn stored_accounts(kv: &dyn Kv) -> Result<Vec<StoredAccount>, String> {
    kv.scan_prefix(keys::ACCOUNT_PREFIX)
        .into_iter()
        .map(|row| {
            let (k, v) = row.map_err(|e| e.to_string())?;
            keys::decode::<StoredAccount>(&v)
                .map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&k)))
        })
        .collect()
}

/// Every stored carrier's settings.
fn stored_carriers(kv: &dyn Kv) -> Result<Vec<CarrierConfig>, String> {
    kv.scan_prefix(keys::CARRIER_PREFIX)
        .into_iter()
        .filter_map(|row| match row {
            // `k/<id>` holds the settings; `k/<id>/...` other facts about it
            Ok((k, v)) if !k[keys::CARRIER_PREFIX.len()..].contains(&b'/') => Some(
                keys::decode::<CarrierConfig>(&v)
                    .map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&k))),
            ),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        })
        .collect()
}

/// Every stored API key, revoked ones included.
fn stored_api_keys(kv: &dyn Kv) -> Result<Vec<ApiKey>, String> {
    kv.scan_prefix(keys::API_KEY_PREFIX)
        .into_iter()
        .map(|row| {
            let (k, v) = row.map_err(|e| e.to_string())?;
            keys::decode::<ApiKey>(&v).map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&k)))
        })
        .collect()
}

/// The keys that work: a key that cannot be read is logged and does not work.
fn live_api_keys(kv: &dyn Kv) -> ApiKeyTable {
    match stored_api_keys(kv) {
        Ok(all) => all
            .into_iter()
            .filter(|k| k.revoked_ms.is_none())
            .map(|k| (k.key_id.clone(), Arc::new(k)))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "stored API keys unreadable; the customer API refuses every key");
            ApiKeyTable::new()
        }
    }
}

fn stored_routes(kv: &dyn Kv) -> Result<Vec<Route>, String> {
    match kv.get(keys::ROUTES).map_err(|e| e.to_string())? {
        Some(v) => keys::decode(&v).map_err(|e| format!("stored route table: {e}")),
        None => Ok(Vec::new()),
    }
}

fn warn_if_file_differs(
    cfg: &Config,
    stored: &[StoredAccount],
    routes: &[Route],
    mo_routes: &[MoRoute],
    carriers: &[CarrierConfig],
) {
    let mut differ: Vec<String> = Vec::new();
    for c in &cfg.carriers {
        if !carriers.contains(c.get_ref()) {
            differ.push(format!("carrier {}", c.get_ref().id));
        }
    }
    for c in &cfg.accounts {
        let c = c.get_ref();
        let same = stored
            .iter()
            .find(|a| a.system_id == c.system_id)
            .is_some_and(|a| {
                a.deleted_ms.is_none()
                    && a.tps == c.tps
                    && a.max_binds == c.max_binds
                    && Micros::parse(&c.price).is_ok_and(|p| p == a.price)
                    && a.allowed_sources == c.allowed_sources
                    && a.allowed_ips == c.allowed_ips
                    && a.webhook_url == c.webhook_url
                    && a.opt_out_keywords == c.opt_out_keywords
                    && a.opt_in_keywords == c.opt_in_keywords
            });
        if !same {
            differ.push(format!("account {}", c.system_id));
        }
    }
    let file_routes: Vec<Route> = cfg.routes.iter().map(|r| r.get_ref().clone()).collect();
    if file_routes != routes {
        differ.push("routes".into());
    }
    let file_mo: Vec<MoRoute> = cfg.mo_routes.iter().map(|r| r.get_ref().clone()).collect();
    if file_mo != mo_routes {
        differ.push("mo_routes".into());
    }
    if !differ.is_empty() {
        tracing::warn!(
            differ = %differ.join(", "),
            "the config file's accounts, carriers or routes differ from the store's: the store's are in force (the file seeds only an empty data dir; change them through the admin API, or apply the file with SIGHUP)"
        );
    }
}

/// Account and route changes, one at a time (see the module doc).
pub struct Registry {
    kv: Arc<dyn Kv>,
    store: StoreHandle,
    accounts: watch::Sender<Arc<AccountTable>>,
    routes: watch::Sender<Arc<RouteTable>>,
    mo_routes: watch::Sender<Arc<MoRouteTable>>,
    suppressions: Arc<Suppressions>,
    carriers: Carriers,
    delivery: Addr<Delivery>,
    api_keys: watch::Sender<Arc<ApiKeyTable>>,
    lock: Mutex<()>,
}

/// The MO route table and the suppression list, as the registry changes them.
pub struct TwoWay {
    /// Publishes the MO route table.
    pub mo_routes: watch::Sender<Arc<MoRouteTable>>,
    /// The suppression list every submit checks.
    pub suppressions: Arc<Suppressions>,
}

/// Starts a carrier's actor (on a worker thread) with its backlog.
pub type StartCarrier = Box<dyn Fn(CarrierConfig) -> (Addr<Carrier>, Arc<Backlog>) + Send + Sync>;

/// The running carriers, their backlogs, and how to start another.
pub struct Carriers {
    /// By id.
    pub set: CarrierSet,
    /// Their queue depths.
    pub backlogs: Backlogs,
    /// Starts one.
    pub start: StartCarrier,
}

impl Registry {
    /// The registry publishing through these channels.
    pub fn new(
        kv: Arc<dyn Kv>,
        store: StoreHandle,
        accounts: watch::Sender<Arc<AccountTable>>,
        routes: watch::Sender<Arc<RouteTable>>,
        two_way: TwoWay,
        carriers: Carriers,
        delivery: Addr<Delivery>,
    ) -> Registry {
        let keys = live_api_keys(&*kv);
        Registry {
            kv,
            store,
            accounts,
            routes,
            mo_routes: two_way.mo_routes,
            suppressions: two_way.suppressions,
            carriers,
            delivery,
            api_keys: watch::Sender::new(Arc::new(keys)),
            lock: Mutex::new(()),
        }
    }

    /// The live API keys, as they change.
    pub fn api_keys(&self) -> watch::Receiver<Arc<ApiKeyTable>> {
        self.api_keys.subscribe()
    }

    /// Makes an API key for a live account: stored (hashed) and audited before it works.
    pub async fn create_api_key(&self, account: &str, from: &str) -> Result<Issued, Refused> {
        let _one = self.lock.lock().await;
        match self.stored(account)? {
            Some(a) if a.deleted_ms.is_none() => {}
            _ => return Err(Refused::NotFound("account")),
        }
        let issued = crate::api_keys::issue(account, now_ms());
        let k = &issued.record;
        let mut batch = WriteBatch::default();
        batch.put(keys::api_key(&k.key_id), keys::encode(k));
        self.commit_audited(
            batch,
            from,
            "api_key.create",
            account,
            Value::Null,
            k.to_json(),
        )
        .await?;
        let rec = Arc::new(k.clone());
        self.api_keys.send_modify(|t| {
            let mut next = ApiKeyTable::clone(t);
            next.insert(rec.key_id.clone(), rec);
            *t = Arc::new(next);
        });
        tracing::info!(system_id = %account, key_id = %k.key_id, %from, "API key created");
        Ok(issued)
    }

    /// Revokes an account's API key: refused from the next request on.
    pub async fn revoke_api_key(
        &self,
        account: &str,
        key_id: &str,
        from: &str,
    ) -> Result<(), Refused> {
        let _one = self.lock.lock().await;
        let old: ApiKey = match self.read(&keys::api_key(key_id))? {
            Some(
                k @ ApiKey {
                    revoked_ms: None, ..
                },
            ) if k.account == account => k,
            _ => return Err(Refused::NotFound("API key")),
        };
        let mut k = old.clone();
        k.revoked_ms = Some(now_ms());
        let mut batch = WriteBatch::default();
        batch.put(keys::api_key(key_id), keys::encode(&k));
        self.commit_audited(
            batch,
            from,
            "api_key.revoke",
            account,
            old.to_json(),
            k.to_json(),
        )
        .await?;
        self.api_keys.send_modify(|t| {
            let mut next = ApiKeyTable::clone(t);
            next.remove(key_id);
            *t = Arc::new(next);
        });
        tracing::info!(system_id = %account, %key_id, %from, "API key revoked");
        Ok(())
    }

    /// An account's API keys, revoked ones included (no secrets).
    pub fn account_api_keys(&self, account: &str) -> Result<Vec<ApiKey>, Refused> {
        Ok(stored_api_keys(&*self.kv)
            .map_err(Refused::Store)?
            .into_iter()
            .filter(|k| k.account == account)
            .collect())
    }

    /// A stored carrier's settings.
    pub fn carrier(&self, id: &str) -> Result<Option<CarrierConfig>, Refused> {
        self.read(&keys::carrier(id))
    }

    /// Every stored carrier's settings.
    pub fn carriers(&self) -> Result<Vec<CarrierConfig>, Refused> {
        stored_carriers(&*self.kv).map_err(Refused::Store)
    }

    /// Adds a carrier: stored, audited, then started (it binds at once).
    pub async fn create_carrier(&self, c: CarrierConfig, from: &str) -> Result<(), Refused> {
        first_problem(c.problems())?;
        let _one = self.lock.lock().await;
        if self.carrier(&c.id)?.is_some() {
            return Err(Refused::Conflict(format!("carrier {:?} exists", c.id)));
        }
        let mut batch = WriteBatch::default();
        batch.put(keys::carrier(&c.id), keys::encode(&c));
        self.commit_audited(
            batch,
            from,
            "carrier.create",
            &c.id,
            Value::Null,
            c.to_json(),
        )
        .await?;
        self.run_carrier(c);
        Ok(())
    }

    /// Changes a carrier's settings: `change` holds the fields to change (the password
    /// kept unless given). The old actor hands its queue back to the routes and unbinds
    /// once its submits in flight are answered; the new one binds with the new settings.
    pub async fn update_carrier(
        &self,
        id: &str,
        change: serde_json::Map<String, Value>,
        from: &str,
    ) -> Result<CarrierConfig, Refused> {
        if change.get("id").is_some_and(|v| v != id) {
            return Err(Refused::invalid("id", "cannot be changed"));
        }
        let _one = self.lock.lock().await;
        let old = self.carrier(id)?.ok_or(Refused::NotFound("carrier"))?;
        let mut merged = serde_json::to_value(&old).map_err(|e| Refused::Store(e.to_string()))?;
        if let Some(m) = merged.as_object_mut() {
            m.extend(change);
        }
        let new: CarrierConfig =
            serde_json::from_value(merged).map_err(|e| Refused::invalid("body", e.to_string()))?;
        first_problem(new.problems())?;
        let mut batch = WriteBatch::default();
        batch.put(keys::carrier(id), keys::encode(&new));
        self.commit_audited(
            batch,
            from,
            "carrier.update",
            id,
            old.to_json(),
            new.to_json(),
        )
        .await?;
        let stopped = self.carrier_stopped(id)?;
        if let Some(a) = self.run_carrier(new.clone()) {
            a.do_send(Retire);
        }
        if stopped && let Some(a) = self.carriers.set.get(id) {
            a.do_send(SetStopped(true));
        }
        tracing::info!(carrier = %id, %from, "carrier settings changed; it binds again");
        Ok(new)
    }

    /// Removes a carrier no route names: it unbinds once its submits in flight are
    /// answered, and is gone from the store.
    pub async fn delete_carrier(&self, id: &str, from: &str) -> Result<(), Refused> {
        let _one = self.lock.lock().await;
        let old = self.carrier(id)?.ok_or(Refused::NotFound("carrier"))?;
        if let Some(r) = self
            .routes()?
            .iter()
            .find(|r| r.carriers.iter().any(|c| c == id))
        {
            return Err(Refused::Conflict(format!(
                "the route {:?} names carrier {id:?}: change the routes first",
                r.prefix
            )));
        }
        let mut batch = WriteBatch::default();
        batch.del(keys::carrier(id));
        batch.del(keys::carrier_stopped(id));
        self.commit_audited(
            batch,
            from,
            "carrier.delete",
            id,
            old.to_json(),
            Value::Null,
        )
        .await?;
        if let Some(a) = self.carriers.set.remove(id) {
            a.do_send(Retire);
        }
        self.carriers.backlogs.remove(id);
        tracing::info!(carrier = %id, %from, "carrier deleted");
        Ok(())
    }

    /// Starts carrier `c` and puts it in the set; returns the actor it replaces.
    fn run_carrier(&self, c: CarrierConfig) -> Option<Addr<Carrier>> {
        let id = c.id.clone();
        let concatenation = c.concatenation;
        let (addr, backlog) = (self.carriers.start)(c);
        self.carriers.backlogs.set(&id, backlog);
        self.carriers.set.insert(&id, addr, concatenation)
    }

    /// A stored account, deleted or not.
    pub fn stored(&self, id: &str) -> Result<Option<StoredAccount>, Refused> {
        self.read(&keys::account(id))
    }

    /// Every live account, by id.
    pub fn list(&self) -> Result<Vec<StoredAccount>, Refused> {
        let mut all = stored_accounts(&*self.kv).map_err(Refused::Store)?;
        all.retain(|a| a.deleted_ms.is_none());
        Ok(all)
    }

    /// Creates an account with its opening balance; `from` is the operator's address.
    pub async fn create_account(
        &self,
        n: NewAccount,
        from: &str,
    ) -> Result<StoredAccount, Refused> {
        let fields = accounts::Fields {
            system_id: &n.system_id,
            password: Some(n.password.expose()),
            tps: n.tps.unwrap_or(crate::config::DEFAULT_ACCOUNT_TPS),
            max_binds: n.max_binds.unwrap_or(crate::config::DEFAULT_MAX_BINDS),
            balance: Some(n.balance.as_deref().unwrap_or("0")),
            price: n.price.as_deref().unwrap_or("0"),
            allowed_ips: &n.allowed_ips,
            webhook_url: &n.webhook_url,
            opt_out_keywords: &n.opt_out_keywords,
            opt_in_keywords: &n.opt_in_keywords,
        };
        first_problem(fields.problems())?;
        let price =
            Micros::parse(fields.price).map_err(|e| Refused::invalid("price", e.to_string()))?;
        let opening = Micros::parse(n.balance.as_deref().unwrap_or("0"))
            .map_err(|e| Refused::invalid("balance", e.to_string()))?;
        let pw = n.password.clone();
        let hash = tokio::task::spawn_blocking(move || accounts::hash_password(pw.expose()))
            .await
            .map_err(|e| Refused::Store(e.to_string()))?
            .map_err(Refused::Store)?;
        let _one = self.lock.lock().await;
        if let Some(old) = self.stored(&n.system_id)? {
            return Err(Refused::Conflict(if old.deleted_ms.is_some() {
                format!(
                    "system_id {:?} belonged to a deleted account and is not reused",
                    n.system_id
                )
            } else {
                format!("account {:?} exists", n.system_id)
            }));
        }
        let a = StoredAccount {
            system_id: n.system_id.clone(),
            password_hash: hash,
            tps: fields.tps,
            max_binds: fields.max_binds,
            price,
            allowed_sources: n.allowed_sources,
            allowed_ips: n.allowed_ips,
            refund_rejected: n.refund_rejected,
            webhook_url: n.webhook_url,
            opt_out_keywords: n.opt_out_keywords,
            opt_in_keywords: n.opt_in_keywords,
            created_ms: now_ms(),
            deleted_ms: None,
        };
        let mut batch = WriteBatch::default();
        open_account(&self.kv, &mut batch, &a.system_id, opening, from).map_err(Refused::Store)?;
        batch.put(keys::account(&a.system_id), keys::encode(&a));
        let mut after = a.to_json();
        after["balance"] = json!(opening.to_string());
        self.commit_audited(
            batch,
            from,
            "account.create",
            &a.system_id,
            Value::Null,
            after,
        )
        .await?;
        self.publish_account(&a.system_id, Some(&a));
        tracing::info!(system_id = %a.system_id, %from, "account created");
        Ok(a)
    }

    /// Changes the fields `c` gives.
    pub async fn update_account(
        &self,
        id: &str,
        c: AccountChange,
        from: &str,
    ) -> Result<StoredAccount, Refused> {
        if c.balance.is_some() {
            return Err(Refused::invalid(
                "balance",
                "balances change only through POST /api/v1/accounts/{id}/credit",
            ));
        }
        if c.system_id.as_deref().is_some_and(|s| s != id) {
            return Err(Refused::invalid("system_id", "cannot be changed"));
        }
        let hash = match c.password.clone() {
            Some(pw) => {
                let f = accounts::Fields::password_only(id, pw.expose());
                first_problem(f.problems())?;
                Some(
                    tokio::task::spawn_blocking(move || accounts::hash_password(pw.expose()))
                        .await
                        .map_err(|e| Refused::Store(e.to_string()))?
                        .map_err(Refused::Store)?,
                )
            }
            None => None,
        };
        let _one = self.lock.lock().await;
        let old = match self.stored(id)? {
            Some(a) if a.deleted_ms.is_none() => a,
            _ => return Err(Refused::NotFound("account")),
        };
        let mut a = old.clone();
        if let Some(h) = hash {
            a.password_hash = h;
        }
        a.tps = c.tps.unwrap_or(a.tps);
        a.max_binds = c.max_binds.unwrap_or(a.max_binds);
        if let Some(p) = &c.price {
            a.price = Micros::parse(p).map_err(|e| Refused::invalid("price", e.to_string()))?;
        }
        if let Some(s) = c.allowed_sources {
            a.allowed_sources = s;
        }
        if let Some(ips) = c.allowed_ips {
            a.allowed_ips = ips;
        }
        a.refund_rejected = c.refund_rejected.unwrap_or(a.refund_rejected);
        if let Some(u) = c.webhook_url {
            a.webhook_url = u;
        }
        if let Some(k) = c.opt_out_keywords {
            a.opt_out_keywords = k;
        }
        if let Some(k) = c.opt_in_keywords {
            a.opt_in_keywords = k;
        }
        let f = accounts::Fields {
            system_id: id,
            password: None,
            tps: a.tps,
            max_binds: a.max_binds,
            balance: None,
            price: &a.price.to_string(),
            allowed_ips: &a.allowed_ips,
            webhook_url: &a.webhook_url,
            opt_out_keywords: &a.opt_out_keywords,
            opt_in_keywords: &a.opt_in_keywords,
        };
        first_problem(f.problems())?;
        let mut batch = WriteBatch::default();
        batch.put(keys::account(id), keys::encode(&a));
        self.commit_audited(
            batch,
            from,
            "account.update",
            id,
            old.to_json(),
            a.to_json(),
        )
        .await?;
        self.publish_account(id, Some(&a));
        tracing::info!(system_id = %id, %from, "account updated");
        Ok(a)
    }

    /// Deletes an account: it can no longer bind, its binds are unbound; its messages,
    /// receipts and ledger stay readable and its id is not reused.
    pub async fn delete_account(&self, id: &str, from: &str) -> Result<(), Refused> {
        let _one = self.lock.lock().await;
        let old = match self.stored(id)? {
            Some(a) if a.deleted_ms.is_none() => a,
            _ => return Err(Refused::NotFound("account")),
        };
        let mut a = old.clone();
        a.deleted_ms = Some(now_ms());
        let mut batch = WriteBatch::default();
        batch.put(keys::account(id), keys::encode(&a));
        self.commit_audited(
            batch,
            from,
            "account.delete",
            id,
            old.to_json(),
            Value::Null,
        )
        .await?;
        self.publish_account(id, None);
        self.delivery.do_send(UnbindAccount(id.to_string()));
        tracing::info!(system_id = %id, %from, "account deleted; its binds are unbound");
        Ok(())
    }

    /// The route table as stored.
    pub fn routes(&self) -> Result<Vec<Route>, Refused> {
        stored_routes(&*self.kv).map_err(Refused::Store)
    }

    /// Validates `routes` as a whole and swaps them in: the next message is routed by
    /// them; messages already routed keep their carrier.
    pub async fn replace_routes(&self, routes: Vec<Route>, from: &str) -> Result<(), Refused> {
        let table = RouteTable::new(routes.clone(), |c| self.carriers.set.contains(c))
            .map_err(|e| Refused::invalid("routes", e.to_string()))?;
        let _one = self.lock.lock().await;
        let old = self.routes()?;
        let mut batch = WriteBatch::default();
        batch.put(keys::ROUTES.to_vec(), keys::encode(&routes));
        self.commit_audited(
            batch,
            from,
            "routes.replace",
            "",
            json!({ "routes": old }),
            json!({ "routes": routes }),
        )
        .await?;
        self.routes.send_replace(Arc::new(table));
        tracing::info!(count = routes.len(), %from, "route table replaced");
        Ok(())
    }

    /// The MO route table as stored.
    pub fn mo_routes(&self) -> Result<Vec<MoRoute>, Refused> {
        stored_mo_routes(&*self.kv).map_err(Refused::Store)
    }

    /// Validates `routes` (every account live) and swaps them in: the next MO is routed
    /// by them.
    pub async fn replace_mo_routes(&self, routes: Vec<MoRoute>, from: &str) -> Result<(), Refused> {
        let _one = self.lock.lock().await;
        let table = {
            let accounts = self.accounts.borrow();
            MoRouteTable::new(routes.clone(), |a| accounts.contains_key(a))
                .map_err(|e| Refused::invalid("mo_routes", e.to_string()))?
        };
        let old = self.mo_routes()?;
        let mut batch = WriteBatch::default();
        batch.put(keys::MO_ROUTES.to_vec(), keys::encode(&routes));
        self.commit_audited(
            batch,
            from,
            "mo_routes.replace",
            "",
            json!({ "mo_routes": old }),
            json!({ "mo_routes": routes }),
        )
        .await?;
        self.mo_routes.send_replace(Arc::new(table));
        tracing::info!(count = routes.len(), %from, "MO route table replaced");
        Ok(())
    }

    /// The suppression entries, of one account or all.
    pub fn suppressions(&self, account: Option<&str>) -> Result<Vec<Suppression>, Refused> {
        let prefix = match account {
            Some(a) => format!("z/{a}/").into_bytes(),
            None => keys::SUPPRESSION_PREFIX.to_vec(),
        };
        let mut out = Vec::new();
        for row in self.kv.scan_prefix(&prefix) {
            let (_, v) = row.map_err(|e| Refused::Store(e.to_string()))?;
            out.push(keys::decode(&v).map_err(|e| Refused::Store(e.to_string()))?);
        }
        Ok(out)
    }

    /// Puts a pair on (`OptOut`) or takes it off (`OptIn`) an account's suppression list,
    /// durably and audited, as an operator asked. Taking off a pair not on it is `NotFound`.
    pub async fn change_suppression(
        &self,
        account: &str,
        handset: &str,
        number: &str,
        change: OptChange,
        from: &str,
    ) -> Result<Suppression, Refused> {
        use crate::domain::mo::number as plain;
        let _one = self.lock.lock().await;
        if !self.accounts.borrow().contains_key(account) {
            return Err(Refused::NotFound("account"));
        }
        for (field, v) in [("handset", handset), ("number", number)] {
            if !crate::suppressions::valid_number(v) {
                return Err(Refused::invalid(
                    field,
                    "a phone number or sender ID of 1 to 20 characters, no '/'",
                ));
            }
        }
        let key = crate::suppressions::key(account, handset, number);
        let entry = Suppression {
            account: account.to_string(),
            handset: plain(handset).to_string(),
            number: plain(number).to_string(),
            since_ms: crate::domain::clock::now_ms(),
            source: "operator".into(),
        };
        let before = self
            .kv
            .get(&key)
            .map_err(|e| Refused::Store(e.to_string()))?;
        let mut batch = WriteBatch::default();
        let (action, after) = match change {
            OptChange::OptOut => {
                batch.put(key, keys::encode(&entry));
                ("suppressions.add", json!(entry))
            }
            OptChange::OptIn => {
                if before.is_none() {
                    return Err(Refused::NotFound("suppression"));
                }
                batch.del(key);
                ("suppressions.remove", Value::Null)
            }
        };
        let before = before
            .and_then(|v| serde_json::from_slice::<Value>(&v).ok())
            .unwrap_or(Value::Null);
        self.commit_audited(batch, from, action, account, before, after)
            .await?;
        self.suppressions
            .refresh(&*self.kv, account, handset, number);
        tracing::info!(%account, %from, ?change, "suppression list changed by an operator");
        Ok(entry)
    }

    /// Whether an operator has carrier `id` stopped.
    pub fn carrier_stopped(&self, id: &str) -> Result<bool, Refused> {
        self.kv
            .get(&keys::carrier_stopped(id))
            .map(|v| v.is_some())
            .map_err(|e| Refused::Store(e.to_string()))
    }

    /// Records that an operator stopped (or started) carrier `id`, durably and audited,
    /// then tells the carrier, all under the lock: two such calls never cross.
    pub async fn stop_carrier(
        &self,
        id: &str,
        carrier: &Addr<crate::actors::carrier::Carrier>,
        stopped: bool,
        from: &str,
    ) -> Result<(), Refused> {
        if !self.carriers.set.contains(id) {
            return Err(Refused::NotFound("carrier"));
        }
        let _one = self.lock.lock().await;
        let was = self.carrier_stopped(id)?;
        let mut batch = WriteBatch::default();
        if stopped {
            batch.put(keys::carrier_stopped(id), b"1".to_vec());
        } else {
            batch.del(keys::carrier_stopped(id));
        }
        let action = if stopped {
            "carrier.stop"
        } else {
            "carrier.start"
        };
        self.commit_audited(
            batch,
            from,
            action,
            id,
            json!({ "stopped": was }),
            json!({ "stopped": stopped }),
        )
        .await?;
        carrier
            .send(SetStopped(stopped))
            .await
            .map_err(|_| Refused::Store("carrier not running".into()))
    }

    /// Applies the config file's accounts and routes to the store, as an operator would
    /// through the API (SIGHUP): accounts it names are created or changed (their balance
    /// is left alone: a new one opens with the file's), the route table is replaced when
    /// the file has routes. Accounts it does not name stay. Returns what changed.
    pub async fn apply_file(&self, cfg: &Config) -> Result<Vec<String>, Refused> {
        let mut changed = Vec::new();
        // all or nothing as far as can be known first: routes to carriers tern will not run
        let routes: Vec<Route> = cfg.routes.iter().map(|r| r.get_ref().clone()).collect();
        let in_file = |c: &str| cfg.carriers.iter().any(|x| x.get_ref().id == c);
        RouteTable::new(routes.clone(), |c| {
            self.carriers.set.contains(c) || in_file(c)
        })
        .map_err(|e| Refused::invalid("routes", e.to_string()))?;
        for c in &cfg.carriers {
            let c = c.get_ref();
            match self.carrier(&c.id)? {
                None => {
                    self.create_carrier(c.clone(), "config").await?;
                    changed.push(format!("carrier {} created", c.id));
                }
                Some(old) if old != *c => {
                    let serde_json::Value::Object(all) =
                        serde_json::to_value(c).map_err(|e| Refused::Store(e.to_string()))?
                    else {
                        continue;
                    };
                    self.update_carrier(&c.id, all, "config").await?;
                    changed.push(format!("carrier {} changed", c.id));
                }
                Some(_) => {}
            }
        }
        for c in &cfg.accounts {
            let c = c.get_ref();
            let stored = self.stored(&c.system_id)?;
            match stored {
                None => {
                    let n = NewAccount {
                        system_id: c.system_id.clone(),
                        password: c.password.clone(),
                        tps: Some(c.tps),
                        max_binds: Some(c.max_binds),
                        balance: Some(c.balance.clone()),
                        price: Some(c.price.clone()),
                        allowed_sources: c.allowed_sources.clone(),
                        allowed_ips: c.allowed_ips.clone(),
                        refund_rejected: c.refund_rejected,
                        webhook_url: c.webhook_url.clone(),
                        opt_out_keywords: c.opt_out_keywords.clone(),
                        opt_in_keywords: c.opt_in_keywords.clone(),
                    };
                    self.create_account(n, "config").await?;
                    changed.push(format!("account {} created", c.system_id));
                }
                Some(a) if a.deleted_ms.is_some() => {
                    tracing::warn!(system_id = %c.system_id, "the config file names a deleted account; not recreated");
                }
                Some(a) => {
                    let (pw, hash) = (c.password.clone(), a.password_hash.clone());
                    let same_pw = tokio::task::spawn_blocking(move || {
                        accounts::verify_password(pw.expose(), hash.expose())
                    })
                    .await
                    .unwrap_or(false);
                    let price = Micros::parse(&c.price).ok();
                    let same = same_pw
                        && a.tps == c.tps
                        && a.max_binds == c.max_binds
                        && price == Some(a.price)
                        && a.allowed_sources == c.allowed_sources
                        && a.allowed_ips == c.allowed_ips
                        && a.refund_rejected == c.refund_rejected
                        && a.webhook_url == c.webhook_url
                        && a.opt_out_keywords == c.opt_out_keywords
                        && a.opt_in_keywords == c.opt_in_keywords;
                    if !same {
                        let change = AccountChange {
                            password: (!same_pw).then(|| c.password.clone()),
                            tps: Some(c.tps),
                            max_binds: Some(c.max_binds),
                            price: Some(c.price.clone()),
                            allowed_sources: Some(c.allowed_sources.clone()),
                            allowed_ips: Some(c.allowed_ips.clone()),
                            refund_rejected: Some(c.refund_rejected),
                            webhook_url: Some(c.webhook_url.clone()),
                            opt_out_keywords: Some(c.opt_out_keywords.clone()),
                            opt_in_keywords: Some(c.opt_in_keywords.clone()),
                            ..AccountChange::default()
                        };
                        self.update_account(&c.system_id, change, "config").await?;
                        changed.push(format!("account {} changed", c.system_id));
                    }
                }
            }
        }
        if !routes.is_empty() && routes != self.routes()? {
            self.replace_routes(routes, "config").await?;
            changed.push("routes replaced".into());
        }
        let mo: Vec<MoRoute> = cfg.mo_routes.iter().map(|r| r.get_ref().clone()).collect();
        if !mo.is_empty() && mo != self.mo_routes()? {
            self.replace_mo_routes(mo, "config").await?;
            changed.push("MO routes replaced".into());
        }
        Ok(changed)
    }

    /// Commits `batch` with the audit entry of the change it makes, as one batch.
    async fn commit_audited(
        &self,
        mut batch: WriteBatch,
        from: &str,
        action: &str,
        target: &str,
        before: Value,
        after: Value,
    ) -> Result<(), Refused> {
        audit(&self.kv, &mut batch, from, action, target, before, after).map_err(Refused::Store)?;
        self.commit(batch).await
    }

    /// The stored JSON record under `key`.
    fn read<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Refused> {
        match self
            .kv
            .get(key)
            .map_err(|e| Refused::Store(e.to_string()))?
        {
            Some(v) => keys::decode(&v)
                .map(Some)
                .map_err(|e| Refused::Store(e.to_string())),
            None => Ok(None),
        }
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), Refused> {
        self.store
            .commit(batch)
            .await
            .map_err(|e| Refused::Store(e.to_string()))
    }

    fn publish_account(&self, id: &str, a: Option<&StoredAccount>) {
        self.accounts.send_modify(|t| {
            let mut next = AccountTable::clone(t);
            match a {
                Some(a) => next.insert(id.to_string(), Arc::new(a.account())),
                None => next.remove(id),
            };
            *t = Arc::new(next);
        });
    }
}
