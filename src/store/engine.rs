//! The storage engine tern runs on: the [`Journal`] for durability, memtables for reads,
//! sled for everything checkpointed.
//!
//! A write is appended to the journal and applied to the *active* memtable; a flush syncs
//! the journal. A background thread checkpoints about every half second: it freezes the active
//! memtable (reads still see it), rotates the journal, writes the frozen memtable into sled,
//! flushes sled, records a marker naming the last journal segment sled now holds, and only
//! then drops the frozen memtable and deletes the covered segments (except those that keys
//! it held back, see [`keys::HELD_PREFIXES`], were written in: those wait in the *held*
//! memtable for a later checkpoint). Journal records hold
//! resolved values (an append is journaled as the whole new value), so replaying a segment
//! that partly reached sled before a crash gives the same result. Every
//! key is written to sled at most once per checkpoint whatever happened to it in between
//! (a balance moved by ten thousand charges is one write; a pending marker set and cleared
//! is none), which is where the speed comes from (loadtest/README.md).
//!
//! Reads look in the active memtable, then the frozen one, the held one, sled. On open, the journal
//! segments left are replayed into sled, in order, before anything runs.
//!
//! # When the disk fails: the error policy
//!
//! Every failed write ends in one of two ways, and a writer's client is told the truth
//! in both ([`Fate`]):
//!
//! - **Refused, nothing kept.** The write did not reach the journal, or reached it and was
//!   cut back off (a failed append is truncated to the last whole record). The writer gets
//!   an error and may say so: ESME_RMSGQFUL when the disk is full or the store is behind
//!   (try again later), ESME_RSYSERR otherwise. The store goes on serving.
//! - **Fate unknown: fail-stop.** A failed fsync (of a commit or of a rotation), an append
//!   that cannot be cut back, a panic in the checkpoint thread or the group-commit actor,
//!   or checkpoints failing for a minute. After a failed fsync the kernel may
//!   have dropped the dirty pages and a later fsync would succeed without them
//!   ("fsyncgate"), so, as PostgreSQL does, the store stops: it logs why, refuses every
//!   later write, answers no waiter of a write already journaled (neither "stored" nor
//!   "failed": the process exits before anyone learns either), and tern exits with status
//!   74. The next start replays the journal, which decides each such write: a message in
//!   it is stored, charged and sent; one not in it never existed. A client that got no
//!   answer submits again, as after a crash (at-least-once).
//!
//! Failures that lose nothing are retried in place: a checkpoint whose sled write or flush
//! fails keeps its frozen memtable and every journal segment and is done again on the next
//! tick; a new segment that cannot be created leaves appends on the current one; segments
//! that cannot be deleted are replayed again, harmlessly, at the next start.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use super::journal::Journal;
use super::keys;
use super::kv::{Fate, FlushFuture, Kv, Op, Row, SledKv, StoreError, WriteBatch};
use crate::failpoint::Failpoints;

/// A memtable entry: the value, or `None` for a tombstone; and whether the key is known to
/// be absent from every layer below (the frozen and held memtables, sled). Removing a fresh key
/// needs no tombstone: the entry is dropped, and sled never hears of the key. A message's
/// pending marker and its outbox receipt usually live and die within one checkpoint, so
/// this keeps them out of sled altogether.
#[derive(Debug, Clone)]
struct Entry {
    value: Option<Vec<u8>>,
    fresh: bool,
    /// The checkpoint generation in which the key entered the memtables.
    born: u32,
}

/// Key → entry.
type Memtable = BTreeMap<Vec<u8>, Entry>;

/// Where an append finds the value it extends when the table being built lacks the key.
type Lower<'a> = &'a dyn Fn(&[u8]) -> Result<Option<Vec<u8>>, StoreError>;

/// sled key holding the last journal segment sled has applied (outside every prefix tern
/// uses: `~` sorts after all of them).
const MARKER: &[u8] = b"~journal";

/// Store key holding the end of the current id lease (see [`Ids`]).
const IDS: &[u8] = b"~ids";
/// Ids handed out per lease: one journal record per this many ids.
const ID_LEASE: u64 = 1 << 20;

/// Where new ids come from: a lease of [`ID_LEASE`] ids whose end is written through the
/// journal before the first of them is handed out. A write that uses an id follows the
/// lease's record in the journal, so any id that reached the store is below a lease end
/// the next start reads back; it starts at that end, and no id is ever handed out twice,
/// however many crashes come in a row. (sled's own `generate_id` did hand ids out again
/// after two crashes within one of its persist intervals: messages and ledger entries were
/// overwritten.)
struct Ids {
    next: u64,
    lease_end: u64,
}

/// How often the checkpoint thread looks.
const CHECKPOINT_TICK: Duration = Duration::from_millis(250);
/// Checkpoint when this many ticks passed with writes, or earlier at [`CHECKPOINT_KEYS`].
/// Half a second keeps the two memtables small (1M-message run: RSS max ~275 -> ~245 MiB
/// against once a second) and still outlives most messages, whose pending marker and
/// outbox receipt then never reach sled (loadtest/README.md).
const CHECKPOINT_EVERY_TICKS: u32 = 2;
/// Checkpoint early once the active memtable holds this many keys.
const CHECKPOINT_KEYS: usize = 200_000;
/// A fresh key under [`keys::HELD_PREFIXES`] is held back from sled (in the held memtable,
/// its journal segments kept) for at most this many checkpoints (10 s): the
/// pending marker of a message waiting for its receipt, or a receipt waiting for its ESME,
/// then never costs sled a write and a removal. The journal keeps as much on disk.
const HOLD_GENERATIONS: u32 = 20;
/// At most this many keys are held at once; the rest go to sled.
const CARRY_MAX_KEYS: usize = 150_000;
/// Writes are refused once the active memtable holds this many keys (checkpoints failing):
/// memory stays bounded and the ESMEs are told, instead of the process growing until killed.
const MAX_ACTIVE_KEYS: usize = 1_000_000;

/// The memtables, newest first: `active`, `frozen`, `held`; then sled. A key may be in
/// several: the newest entry is its value.
#[derive(Default)]
struct Layers {
    active: Memtable,
    frozen: Option<Arc<Memtable>>,
    /// Keys the last checkpoint held back from sled: fresh values (in no layer below), each
    /// journaled in a segment kept for it.
    held: Arc<Memtable>,
    /// Checkpoints so far (ages the entries).
    generation: u32,
    /// The oldest journal segment a held key was written in: kept, with every later one.
    keep_from: u64,
    /// Written since the last checkpoint.
    dirty: bool,
}

impl Layers {
    /// The value of `key` in the memtables: `Some(None)` is a tombstone, `None` means ask sled.
    fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(v) = self.active.get(key) {
            return Some(v.value.clone());
        }
        if let Some(v) = self.frozen.as_ref().and_then(|f| f.get(key)) {
            return Some(v.value.clone());
        }
        self.held.get(key).map(|e| e.value.clone())
    }

    /// The memtables, oldest first (a later one's entry hides an earlier one's).
    fn oldest_first(&self) -> impl Iterator<Item = &Memtable> {
        [&*self.held]
            .into_iter()
            .chain(self.frozen.as_deref())
            .chain([&self.active])
    }
}

/// Journal + memtables + sled behind [`Kv`].
pub struct Engine {
    sled: SledKv,
    journal: Mutex<Journal>,
    layers: RwLock<Layers>,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// When the checkpoint loop last ended a pass well (Unix ms): a loop that stopped or
    /// keeps failing lets the journal grow until writes are refused.
    checkpoint_ok_ms: std::sync::atomic::AtomicU64,
    stop: Arc<Stop>,
    fp: &'static Failpoints,
    /// Why the last journal write failed, while no write has succeeded since (a full disk):
    /// the store is not ready.
    write_failing: Mutex<Option<String>>,
    /// `write_failing` is set (read without the lock on every write).
    write_failed: std::sync::atomic::AtomicBool,
    ids: Mutex<Ids>,
}

/// Checkpoints may fail or lag this long before the store reports itself unhealthy.
const CHECKPOINT_STALE: Duration = Duration::from_secs(30);
/// Checkpoints that keep failing this long stop the store: a restart reopens sled, whose
/// I/O errors latch, and replays the journal.
const CHECKPOINT_GIVE_UP: Duration = Duration::from_secs(60);

/// What the owner of an engine does once it has stopped itself: tern's node exits the
/// process (the next start recovers from the journal); a test records it.
pub type OnStop = Box<dyn Fn(&str) + Send + Sync>;

/// How an engine is opened besides its directory.
pub struct Options {
    /// Page cache for sled, MiB.
    pub cache_mb: u64,
    /// Where its disk I/O can be made to fail (tests).
    pub failpoints: &'static Failpoints,
    /// Called once, when the engine stops itself (see the module doc).
    pub on_stop: OnStop,
}

impl Options {
    /// A page cache of `cache_mb` MiB, no failpoints, nothing done on a stop but the log
    /// line (the engine refuses every write after it anyway).
    pub fn new(cache_mb: u64) -> Options {
        Options {
            cache_mb,
            failpoints: &crate::failpoint::NONE,
            on_stop: Box::new(|_| {}),
        }
    }
}

/// The engine's fail-stop latch: set once, by the first failure whose writes have an
/// unknown fate; from then on no write is acknowledged or refused as if it had not
/// happened.
struct Stop {
    why: OnceLock<String>,
    on_stop: OnStop,
}

impl Stop {
    /// Stops the store for `why` (the first reason wins).
    fn stop(&self, why: &str) {
        if self.why.set(why.to_string()).is_ok() {
            tracing::error!(
                reason = why,
                "store stopped: a write may or may not have reached the disk, so nothing more \
                 is acknowledged; tern exits and the next start recovers from the journal"
            );
            (self.on_stop)(why);
        }
    }

    /// Why the store stopped, if it did.
    fn stopped(&self) -> Option<&str> {
        self.why.get().map(String::as_str)
    }

    /// `Err` when stopped: a refusal, for writes that have not touched the journal.
    fn refuse_if_stopped(&self) -> Result<(), StoreError> {
        match self.stopped() {
            Some(why) => Err(StoreError::new(format!(
                "store stopped after a failure ({why})"
            ))),
            None => Ok(()),
        }
    }

    /// Passes `e` on, stopping the store first when its writes' fate is unknown.
    fn check(&self, e: StoreError) -> StoreError {
        if e.fate() == Fate::Unknown {
            self.stop(e.what());
        }
        e
    }
}

fn poisoned() -> StoreError {
    StoreError::new("store lock poisoned")
}

/// Applies `ops` to `table` in order; appends read their base from `table`, then `lower`.
/// A key stays fresh (see [`Entry`]) across later writes in the same table; an insert of a
/// key the table already holds keeps the entry's own freshness (a tombstone there may be
/// hiding a value below).
fn fold(
    table: &mut Memtable,
    ops: impl IntoIterator<Item = Op>,
    lower: Lower<'_>,
) -> Result<(), StoreError> {
    use std::collections::btree_map::Entry as MapEntry;
    // one search of the table per op (the entry API), since this runs under the store's
    // locks for every write tern makes
    fn set(table: &mut Memtable, k: Vec<u8>, value: Option<Vec<u8>>, fresh: bool) {
        match table.entry(k) {
            MapEntry::Occupied(mut o) => o.get_mut().value = value,
            MapEntry::Vacant(v) => {
                v.insert(Entry {
                    value,
                    fresh,
                    born: 0,
                });
            }
        }
    }
    for op in ops {
        match op {
            Op::Put(k, v) => set(table, k, Some(v), false),
            Op::Insert(k, v) => set(table, k, Some(v), true),
            Op::Del(k) => set(table, k, None, false),
            Op::Append(k, v) => match table.entry(k) {
                MapEntry::Occupied(mut o) => match &mut o.get_mut().value {
                    Some(cur) => cur.extend_from_slice(&v),
                    none => *none = Some(v),
                },
                MapEntry::Vacant(vacant) => {
                    let mut base = lower(vacant.key())?.unwrap_or_default();
                    base.extend_from_slice(&v);
                    vacant.insert(Entry {
                        value: Some(base),
                        fresh: false,
                        born: 0,
                    });
                }
            },
        }
    }
    Ok(())
}

/// Moves a staged batch into the active memtable, new keys born in `generation`. A key
/// already in the active memtable keeps its freshness and its age (the entry there knows
/// what lies below it); a fresh key removed leaves nothing behind.
fn merge(active: &mut Memtable, staged: Memtable, generation: u32) {
    use std::collections::btree_map::Entry as MapEntry;
    for (k, mut e) in staged {
        match active.entry(k) {
            MapEntry::Occupied(mut o) => {
                let cur = o.get_mut();
                e.fresh = cur.fresh;
                e.born = cur.born;
                if e.value.is_none() && e.fresh {
                    o.remove();
                } else {
                    *cur = e;
                }
            }
            MapEntry::Vacant(_) if e.value.is_none() && e.fresh => {}
            MapEntry::Vacant(v) => {
                e.born = generation;
                v.insert(e);
            }
        }
    }
}

/// A memtable being checkpointed, over the keys the checkpoint before held back.
struct Frozen {
    table: Arc<Memtable>,
    held: Arc<Memtable>,
    /// The last journal segment its writes are in.
    upto: u64,
    /// Young held keys are held again rather than written to sled.
    hold: bool,
    /// The checkpoint generation it ends.
    generation: u32,
    /// Left by a failed checkpoint: written out whole, `keep_from` left as it was.
    retry: bool,
}

/// What a checkpoint does with one key.
enum Sorted<'a> {
    /// Write this value (or removal) to sled.
    Write(&'a Option<Vec<u8>>),
    /// Hold it back again.
    Hold(Entry),
    /// Nothing: a held key removed since, now in no layer at all.
    Gone,
}

/// Walks `frozen` over `held` (both in key order) and sorts out each key for a checkpoint
/// of `generation`: fresh values under [`keys::HELD_PREFIXES`] younger than
/// [`HOLD_GENERATIONS`] are held (at most [`CARRY_MAX_KEYS`]) when `hold`, the rest
/// written. A held key written since keeps its age and stays fresh (it reached no layer
/// below); one removed since is gone, tombstone and all.
fn sort_out<'a>(
    frozen: &'a Memtable,
    held: &'a Memtable,
    generation: u32,
    hold: bool,
    mut each: impl FnMut(&'a Vec<u8>, Sorted<'a>),
) {
    use std::cmp::Ordering::{Greater, Less};
    let mut kept = 0usize;
    let mut decide = |k: &[u8], e: &'a Entry, born: u32, fresh: bool| {
        let young = fresh
            && e.value.is_some()
            && generation.wrapping_sub(born) < HOLD_GENERATIONS
            && keys::HELD_PREFIXES.iter().any(|p| k.starts_with(p));
        if hold && young && kept < CARRY_MAX_KEYS {
            kept += 1;
            let value = e.value.clone();
            Sorted::Hold(Entry { value, fresh, born })
        } else {
            Sorted::Write(&e.value)
        }
    };
    let (mut new, mut old) = (frozen.iter().peekable(), held.iter().peekable());
    loop {
        let order = match (new.peek(), old.peek()) {
            (None, None) => break,
            (Some(_), None) => Less,
            (None, Some(_)) => Greater,
            (Some((n, _)), Some((o, _))) => n.cmp(o),
        };
        // the frozen table's key when it comes first, the held one's when it does, both
        // when they are the same key
        let taken = (
            new.next_if(|_| order != Greater),
            old.next_if(|_| order != Less),
        );
        let (k, sorted) = match taken {
            (Some((k, e)), None) => (k, decide(k, e, e.born, e.fresh)),
            (None, Some((k, h))) => (k, decide(k, h, h.born, true)),
            (Some((k, e)), Some(_)) if e.value.is_none() => (k, Sorted::Gone),
            (Some((k, e)), Some((_, h))) => (k, decide(k, e, h.born, true)),
            (None, None) => break,
        };
        each(k, sorted);
    }
}

impl Engine {
    /// Opens sled (page cache `cache_mb` MiB) and the journal in `dir` (see
    /// [`Engine::open_with`]).
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Arc<Engine>, StoreError> {
        Engine::open_with(dir, Options::new(cache_mb))
    }

    /// Opens sled and the journal in `dir`, replays what the journal holds beyond sled's
    /// checkpoint, and starts the checkpoint thread.
    pub fn open_with(dir: &Path, opts: Options) -> Result<Arc<Engine>, StoreError> {
        let sled = SledKv::open(dir, opts.cache_mb)?;
        let (journal, segments) = Journal::open(&dir.join("journal"), opts.failpoints)?;
        let applied = match sled.get(MARKER)? {
            Some(v) if v.len() == 8 => u64::from_be_bytes(v.try_into().unwrap_or([0; 8])),
            Some(_) => return Err(StoreError::new("journal marker unreadable")),
            None => 0,
        };
        let mut replay = Memtable::new();
        let mut last = None;
        let mut records = 0usize;
        // every segment left is replayed, those sled's marker covers too: a checkpoint keeps
        // the segments its held keys were written in, and replaying a covered one again is
        // harmless (resolved values, and every later write to a key is in a later segment,
        // since segments go oldest first)
        for s in segments {
            for b in s.batches {
                records += 1;
                fold(&mut replay, b.ops, &|k| sled.get(k))?;
            }
            last = Some(s.seq);
        }
        if let Some(last) = last {
            let upto = last.max(applied);
            sled.apply_all(replay.iter().map(|(k, e)| (k, &e.value)))?;
            sled.flush_now()?;
            sled.set_marker(MARKER, upto)?;
            sled.flush_now()?;
            journal.remove_upto(upto)?;
            if records > 0 {
                tracing::info!(records, "journal replayed into the store");
            }
        }
        let engine = Arc::new(Engine {
            sled,
            journal: Mutex::new(journal),
            layers: RwLock::new(Layers::default()),
            checkpointing: Mutex::new(()),
            checkpoint_ok_ms: std::sync::atomic::AtomicU64::new(crate::domain::clock::now_ms()),
            stop: Arc::new(Stop {
                why: OnceLock::new(),
                on_stop: opts.on_stop,
            }),
            fp: opts.failpoints,
            write_failing: Mutex::new(None),
            write_failed: std::sync::atomic::AtomicBool::new(false),
            ids: Mutex::new(Ids {
                next: 0,
                lease_end: 0,
            }),
        });
        // the next id: the end of the last lease; a data dir from before leases starts
        // well past anything sled's generator gave out
        let start = match engine.get(IDS)? {
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::new("id lease unreadable"))?,
            None => engine.sled.generate_id()?.saturating_add(4 * ID_LEASE),
        };
        if let Ok(mut ids) = engine.ids.lock() {
            *ids = Ids {
                next: start,
                lease_end: start,
            };
        }
        let weak = Arc::downgrade(&engine);
        std::thread::Builder::new()
            .name("tern-checkpoint".into())
            .spawn(move || checkpoint_loop(weak))
            .map_err(|e| StoreError::new(format!("checkpoint thread: {e}")))?;
        Ok(engine)
    }

    /// Writes everything in the memtables into sled and syncs it. Safe to call at any time
    /// (a clean stop calls it: the next start then has nothing to replay).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.checkpoint_holding(false)
    }

    /// A checkpoint. With `hold`, young fresh keys under [`keys::HELD_PREFIXES`] are not
    /// written to sled but held back in the held memtable; the journal segments their
    /// writes are in are kept (not journaled again) until no held key needs them, and a
    /// restart replays from the oldest segment kept. So the pending marker of a message
    /// whose receipt comes within [`HOLD_GENERATIONS`] checkpoints never reaches sled, and
    /// holding it costs no more than keeping it in memory. Without writes since the last
    /// checkpoint nothing is held: an idle store drains into sled.
    ///
    /// Every commit waits while the store's locks are held, so they are held only to swap
    /// memtables ([`Engine::freeze`], [`Engine::thaw`]); sorting out what to hold and
    /// writing the rest to sled ([`Engine::write_out`]) run between, unlocked.
    fn checkpoint_holding(&self, hold: bool) -> Result<(), StoreError> {
        let _one = self.checkpointing.lock().map_err(|_| poisoned())?;
        self.stop.refuse_if_stopped()?;
        let Some(frozen) = self.freeze(hold)? else {
            return Ok(());
        };
        let held = self.write_out(&frozen)?;
        self.thaw(frozen, held)
    }

    /// Makes the active memtable the frozen one and rotates the journal (under the
    /// store's locks: O(1) but for the rotation's fsync). `None` when there is nothing
    /// to write. A frozen memtable left by a failed checkpoint is written out again first,
    /// whole (nothing of it held).
    fn freeze(&self, hold: bool) -> Result<Option<Frozen>, StoreError> {
        let mut journal = self.journal.lock().map_err(|_| poisoned())?;
        let mut layers = self.layers.write().map_err(|_| poisoned())?;
        if let Some(f) = &layers.frozen {
            // the failed checkpoint's segments are all older than the current one
            return Ok(Some(Frozen {
                table: f.clone(),
                held: layers.held.clone(),
                upto: journal.current() - 1,
                hold: false,
                generation: layers.generation,
                retry: true,
            }));
        }
        if layers.active.is_empty() && layers.held.is_empty() {
            // nothing held any more: segments kept for held keys can go (sled has
            // everything up to the current segment, whose writes cancelled out)
            if layers.keep_from < journal.current() {
                remove_segments(&journal, journal.current() - 1);
                layers.keep_from = journal.current();
            }
            return Ok(None);
        }
        let upto = journal.rotate().map_err(|e| self.stop.check(e))?;
        let hold = hold && layers.dirty;
        layers.generation = layers.generation.wrapping_add(1);
        layers.dirty = false;
        let table = Arc::new(std::mem::take(&mut layers.active));
        layers.frozen = Some(table.clone());
        Ok(Some(Frozen {
            table,
            held: layers.held.clone(),
            upto,
            hold,
            generation: layers.generation,
            retry: false,
        }))
    }

    /// Writes the frozen memtable over the held one to sled, but for the keys held again
    /// (returned), then the marker naming the last segment sled now holds. Runs without
    /// the store's locks: reads still find everything in the frozen and held memtables.
    fn write_out(&self, frozen: &Frozen) -> Result<Memtable, StoreError> {
        let mut held = Vec::new();
        let mut writes = Vec::with_capacity(frozen.table.len() + frozen.held.len());
        sort_out(
            &frozen.table,
            &frozen.held,
            frozen.generation,
            frozen.hold,
            |k, sorted| match sorted {
                Sorted::Write(v) => writes.push((k, v)),
                Sorted::Hold(e) => held.push((k.clone(), e)),
                Sorted::Gone => {}
            },
        );
        metrics::histogram!("tern_store_checkpoint_keys").record(writes.len() as f64);
        // A failure from here on leaves the frozen memtable, the held one and every journal
        // segment in place: the next pass writes the same again (resolved values: no harm).
        let sled_io = |point: &str| {
            self.fp
                .io(point)
                .map_err(|e| StoreError::io(format!("checkpoint ({point})"), &e))
        };
        sled_io("store.checkpoint.write")?;
        self.sled.apply_all(writes.into_iter())?;
        sled_io("store.checkpoint.flush")?;
        self.sled.flush_now()?;
        self.sled.set_marker(MARKER, frozen.upto)?;
        self.sled.flush_now()?;
        // in key order already: built in one pass
        Ok(held.into_iter().collect())
    }

    /// Makes `held` the held memtable and drops the frozen one (under the store's locks,
    /// O(1)), then deletes the journal segments sled now holds but for those a held key
    /// was written in.
    fn thaw(&self, frozen: Frozen, held: Memtable) -> Result<(), StoreError> {
        // the oldest segment a held key was written in (segment and generation advance
        // together, one per checkpoint); the rotation made `upto + 1` the current one
        let oldest = held
            .values()
            .map(|e| frozen.generation.wrapping_sub(e.born))
            .max()
            .map_or(frozen.upto + 1, |age| {
                (frozen.upto + 1).saturating_sub(u64::from(age))
            });
        let (keep_from, dropped) = {
            let mut layers = self.layers.write().map_err(|_| poisoned())?;
            if !frozen.retry {
                layers.keep_from = oldest;
            }
            let old = std::mem::replace(&mut layers.held, Arc::new(held));
            (layers.keep_from, (old, layers.frozen.take()))
        };
        // the old tables are freed here, after the locks
        drop((dropped, frozen));
        // segments a held key was written in stay (they were synced when the journal
        // rotated away from them): a restart replays them
        let journal = self.journal.lock().map_err(|_| poisoned())?;
        remove_segments(
            &journal,
            keep_from.saturating_sub(1).min(journal.current() - 1),
        );
        Ok(())
    }

    /// Keys written since the last checkpoint.
    fn active_len(&self) -> usize {
        self.layers.read().map(|l| l.active.len()).unwrap_or(0)
    }
}

/// Deletes the segments up to `upto`. A segment that cannot be deleted is only replayed
/// again at the next start, which is harmless: logged, not failed.
fn remove_segments(journal: &Journal, upto: u64) {
    if let Err(e) = journal.remove_upto(upto) {
        tracing::warn!(error = %e, "journal segments not deleted; the next start replays them");
    }
}

/// The checkpoint thread: a checkpoint about every half second. A failed one is retried on
/// the next tick; failing for [`CHECKPOINT_GIVE_UP`], or a panic (which may leave the
/// memtables half-moved), stops the store.
fn checkpoint_loop(engine: Weak<Engine>) {
    let mut ticks = 0u32;
    let mut failing_since: Option<Instant> = None;
    loop {
        std::thread::sleep(CHECKPOINT_TICK);
        let Some(e) = engine.upgrade() else { return };
        if e.stop.stopped().is_some() {
            return;
        }
        ticks += 1;
        if ticks < CHECKPOINT_EVERY_TICKS && e.active_len() < CHECKPOINT_KEYS {
            continue;
        }
        ticks = 0;
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| e.checkpoint_holding(true))) {
            Ok(Ok(())) => {
                metrics::histogram!("tern_store_checkpoint_seconds")
                    .record(t.elapsed().as_secs_f64());
                e.checkpoint_ok_ms.store(
                    crate::domain::clock::now_ms(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                failing_since = None;
            }
            Ok(Err(err)) => {
                let since = *failing_since.get_or_insert(t);
                if since.elapsed() >= CHECKPOINT_GIVE_UP {
                    e.stop.stop(&format!(
                        "checkpoints failed for {} s, the last with: {}",
                        CHECKPOINT_GIVE_UP.as_secs(),
                        err.what()
                    ));
                    return;
                }
                tracing::error!(error = %err, "store checkpoint failed; will retry");
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                e.stop.stop(&format!("checkpoint panicked: {why}"));
                return;
            }
        }
    }
}

impl Kv for Engine {
    fn health(&self) -> Result<(), String> {
        if let Some(why) = self.stop.stopped() {
            return Err(format!("store stopped after a failure: {why}"));
        }
        if self.write_failed.load(std::sync::atomic::Ordering::Relaxed)
            && let Ok(w) = self.write_failing.lock()
            && let Some(why) = w.as_ref()
        {
            return Err(format!("store cannot write: {why}"));
        }
        let last = self
            .checkpoint_ok_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let age = crate::domain::clock::now_ms().saturating_sub(last);
        if age > CHECKPOINT_STALE.as_millis() as u64 {
            return Err(format!(
                "store checkpoints stopped: the last good one was {} s ago",
                age / 1000
            ));
        }
        Ok(())
    }

    fn apply(&self, batch: &mut WriteBatch) -> Result<(), StoreError> {
        let mut journal = self.journal.lock().map_err(|_| poisoned())?;
        let mut layers = self.layers.write().map_err(|_| poisoned())?;
        self.stop.refuse_if_stopped()?;
        if layers.active.len() >= MAX_ACTIVE_KEYS {
            return Err(StoreError::full(
                "store checkpoints are behind; write refused",
            ));
        }
        // Resolve the whole batch first (appends become whole values), so a failed read
        // leaves neither journal nor memtable touched; then journal the resolved values,
        // which makes every record safe to replay twice; then make it visible.
        let mut staged = Memtable::new();
        {
            let layers = &*layers;
            fold(&mut staged, batch.ops.drain(..), &|k| match layers.get(k) {
                Some(v) => Ok(v),
                None => self.sled.get(k),
            })?;
        }
        // an insert says its key is new; one still in the frozen or held memtable is not
        // (a carrier that uses a message id again), and its removal must leave a tombstone
        // there. sled is not asked: a key in sled is the writer's to know of.
        if layers.frozen.is_some() || !layers.held.is_empty() {
            let below = |k: &Vec<u8>| {
                layers.frozen.as_ref().is_some_and(|f| f.contains_key(k))
                    || layers.held.contains_key(k)
            };
            for (k, e) in staged.iter_mut() {
                if e.fresh && below(k) {
                    e.fresh = false;
                }
            }
        }
        journal.stage_resolved(staged.len(), staged.iter().map(|(k, e)| (k, &e.value)));
        if let Err(e) = journal.write_staged() {
            if let Ok(mut w) = self.write_failing.lock() {
                *w = Some(e.what().to_string());
            }
            self.write_failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(self.stop.check(e));
        }
        if self.write_failed.load(std::sync::atomic::Ordering::Relaxed) {
            self.write_failed
                .store(false, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut w) = self.write_failing.lock() {
                *w = None;
            }
        }
        let generation = layers.generation;
        merge(&mut layers.active, staged, generation);
        layers.dirty = true;
        Ok(())
    }

    fn flush(&self) -> FlushFuture {
        let syncer = self
            .journal
            .lock()
            .map(|j| j.syncer())
            .map_err(|_| poisoned());
        let stop = self.stop.clone();
        Box::pin(async move {
            // whatever this flush covers is in the journal file already: from here on a
            // failure leaves its fate unknown
            let unknown = |why: String| {
                stop.stop(&why);
                StoreError::unknown(why)
            };
            let syncer = syncer.map_err(|e| unknown(e.what().to_string()))?;
            if let Some(why) = stop.stopped() {
                return Err(StoreError::unknown(why.to_string()));
            }
            tokio::task::spawn_blocking(move || syncer.sync())
                .await
                .map_err(|e| unknown(format!("journal sync: {e}")))?
                .map_err(|e| unknown(format!("journal sync: {e}")))?;
            // a sync that ran beside a failed one may succeed without the failed pages
            // (they can be gone from the page cache): it proves nothing any more
            match stop.stopped() {
                Some(why) => Err(StoreError::unknown(why.to_string())),
                None => Ok(()),
            }
        })
    }

    fn stop(&self, why: &str) {
        self.stop.stop(why);
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.layers.read().map_err(|_| poisoned())?.get(key) {
            return Ok(v);
        }
        self.sled.get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<Row> {
        // Copy the memtables' part first and let go of the lock, so a long sled scan never
        // holds up writes. A key in the copy is at least as new as sled's.
        let mut newer: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        {
            let layers = match self.layers.read() {
                Ok(l) => l,
                Err(_) => return vec![Err(poisoned())],
            };
            for t in layers.oldest_first() {
                for (k, v) in t.range(prefix.to_vec()..) {
                    if !k.starts_with(prefix) {
                        break;
                    }
                    newer.push((k.clone(), v.value.clone()));
                }
            }
        }
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for row in self.sled.scan_prefix(prefix) {
            match row {
                Ok((k, v)) => {
                    merged.insert(k, Some(v));
                }
                Err(e) => return vec![Err(e)],
            }
        }
        merged.extend(newer);
        merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| Ok((k, v))))
            .collect()
    }

    fn scan_page(&self, prefix: &[u8], from: Bound<&[u8]>, limit: usize) -> Vec<Row> {
        let start = match from {
            // the first key past `a`: `a` followed by a zero byte
            Bound::Excluded(a) if a >= prefix => {
                let mut s = a.to_vec();
                s.push(0);
                s
            }
            Bound::Included(a) if a >= prefix => a.to_vec(),
            _ => prefix.to_vec(),
        };
        // the memtables' part of the range (bounded by their size), newest last
        let mut newer: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        {
            let layers = match self.layers.read() {
                Ok(l) => l,
                Err(_) => return vec![Err(poisoned())],
            };
            for t in layers.oldest_first() {
                for (k, v) in t.range(start.clone()..) {
                    if !k.starts_with(prefix) {
                        break;
                    }
                    newer.insert(k.clone(), v.value.clone());
                }
            }
        }
        // merge with sled's, read lazily: stop once the page is full
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut overlay = newer.into_iter().peekable();
        let mut sled = self.sled.range_from(prefix, start).peekable();
        while out.len() < limit {
            let take_overlay = match (overlay.peek(), sled.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((ok, _)), Some(Ok((sk, _)))) => ok <= sk,
                (Some(_), Some(Err(_))) => false,
            };
            if take_overlay {
                let Some((k, v)) = overlay.next() else { break };
                // the overlay is newer: it hides sled's value of the same key
                if let Some(Ok((sk, _))) = sled.peek()
                    && *sk == k
                {
                    sled.next();
                }
                if let Some(v) = v {
                    out.push(Ok((k, v)));
                }
            } else {
                match sled.next() {
                    Some(Ok(row)) => out.push(Ok(row)),
                    Some(Err(e)) => return vec![Err(e)],
                    None => break,
                }
            }
        }
        out
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        let mut ids = self.ids.lock().map_err(|_| poisoned())?;
        if ids.next >= ids.lease_end {
            let end = ids.next.saturating_add(ID_LEASE);
            let mut lease = WriteBatch::default();
            lease.put(IDS, end.to_be_bytes());
            self.apply(&mut lease)?;
            ids.lease_end = end;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        Engine::checkpoint(self)
    }
}

#[cfg(test)]
mod model;

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.put(k.as_bytes(), v.as_bytes());
        b
    }

    fn get(e: &Engine, k: &str) -> Option<String> {
        e.get(k.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn reads_see_writes_before_and_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        e.apply(&mut put("p/1", "a")).unwrap();
        e.apply(&mut put("p/2", "b")).unwrap();
        let mut b = WriteBatch::default();
        b.append("p/2".as_bytes(), "c".as_bytes());
        b.del("p/1".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "p/1"), None);
        assert_eq!(get(&e, "p/2").as_deref(), Some("bc"));
        e.checkpoint().unwrap();
        e.apply(&mut put("p/3", "d")).unwrap();
        let mut b = WriteBatch::default();
        b.append("p/2".as_bytes(), "e".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(
            get(&e, "p/2").as_deref(),
            Some("bce"),
            "append onto sled's value"
        );
        let keys: Vec<String> = e
            .scan_prefix(b"p/")
            .into_iter()
            .map(|r| String::from_utf8(r.unwrap().0).unwrap())
            .collect();
        assert_eq!(keys, vec!["p/2", "p/3"]);
    }

    #[test]
    fn pages_merge_sled_and_the_memtable_and_resume_after_their_last_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        for k in ["l/a/1", "l/a/2", "l/a/3", "l/a/5", "l/b/1"] {
            e.apply(&mut put(k, "old")).unwrap();
        }
        e.checkpoint().unwrap();
        // newer: one overwritten, one deleted, one added between sled's keys
        let mut b = put("l/a/2", "new");
        b.del("l/a/3".as_bytes());
        b.put("l/a/4".as_bytes(), "new".as_bytes());
        e.apply(&mut b).unwrap();
        let page = |after: Option<&str>, n| -> Vec<(String, String)> {
            let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes()));
            e.scan_page(b"l/a/", from, n)
                .into_iter()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
                })
                .collect()
        };
        let first = page(None, 2);
        assert_eq!(
            first,
            [
                ("l/a/1".into(), "old".into()),
                ("l/a/2".into(), "new".into())
            ]
        );
        let second = page(Some("l/a/2"), 2);
        assert_eq!(
            second,
            [
                ("l/a/4".into(), "new".into()),
                ("l/a/5".into(), "old".into())
            ],
            "the deleted key is skipped, the new one found, nothing of l/b/"
        );
        assert_eq!(page(Some("l/a/5"), 2), []);
        assert_eq!(page(None, 10).len(), 4);
    }

    #[test]
    fn a_new_key_removed_before_its_checkpoint_never_reaches_sled() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        let mut b = WriteBatch::default();
        b.insert_new("p/1".as_bytes(), "".as_bytes());
        b.insert_new("p/2".as_bytes(), "".as_bytes());
        e.apply(&mut b).unwrap();
        let mut b = WriteBatch::default();
        b.append("p/1".as_bytes(), "x".as_bytes());
        b.del("p/1".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "p/1"), None);
        assert!(
            !e.layers
                .read()
                .unwrap()
                .active
                .contains_key(b"p/1".as_slice()),
            "no tombstone kept for a fresh key"
        );
        e.checkpoint().unwrap();
        assert_eq!(e.sled.get(b"p/2").unwrap().as_deref(), Some(&b""[..]));
        // once checkpointed the key is in sled: removing it must reach sled too
        let mut b = WriteBatch::default();
        b.del("p/2".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "p/2"), None);
        e.checkpoint().unwrap();
        assert_eq!(e.sled.get(b"p/2").unwrap(), None);
        // a key frozen for a checkpoint in progress is not fresh for the active table
        let mut b = WriteBatch::default();
        b.insert_new("p/3".as_bytes(), "v".as_bytes());
        e.apply(&mut b).unwrap();
        {
            let mut l = e.layers.write().unwrap();
            let f = Arc::new(std::mem::take(&mut l.active));
            l.frozen = Some(f);
        }
        let mut b = WriteBatch::default();
        b.del("p/3".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "p/3"), None, "the tombstone hides the frozen value");
    }

    fn in_sled(e: &Engine, k: &str) -> bool {
        e.sled.get(k.as_bytes()).unwrap().is_some()
    }

    #[test]
    fn a_pending_marker_stays_out_of_sled_until_its_message_ends() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        let mut b = WriteBatch::default();
        b.insert_new("m/1".as_bytes(), "meta".as_bytes());
        b.insert_new("p/1".as_bytes(), "pdu".as_bytes());
        b.insert_new("c/x/9".as_bytes(), "1".as_bytes());
        // keys on both sides of the held ranges, and one just past a range's end
        b.insert_new("b/1".as_bytes(), "b".as_bytes());
        b.insert_new("e/x/8".as_bytes(), "e".as_bytes());
        b.insert_new("n/1".as_bytes(), "n".as_bytes());
        b.insert_new("p0".as_bytes(), "p0".as_bytes());
        b.insert_new("s/1".as_bytes(), "s".as_bytes());
        e.apply(&mut b).unwrap();
        e.checkpoint_holding(true).unwrap();
        assert!(!in_sled(&e, "p/1"), "held back");
        assert!(!in_sled(&e, "c/x/9"), "held back");
        for k in ["b/1", "e/x/8", "m/1", "n/1", "p0", "s/1"] {
            assert!(
                in_sled(&e, k),
                "{k}: only id mappings, markers and receipts are held"
            );
        }
        assert_eq!(get(&e, "p/1").as_deref(), Some("pdu"), "still readable");
        assert_eq!(get(&e, "c/x/9").as_deref(), Some("1"), "still readable");
        // the receipt: the marker goes, the record gets its final event
        let mut b = WriteBatch::default();
        b.append("m/1".as_bytes(), "+final".as_bytes());
        b.del("p/1".as_bytes());
        b.del("c/x/9".as_bytes());
        e.apply(&mut b).unwrap();
        e.checkpoint_holding(true).unwrap();
        assert_eq!(
            e.sled.get(b"m/1").unwrap().as_deref(),
            Some(&b"meta+final"[..])
        );
        assert!(!in_sled(&e, "p/1"), "the marker never reached sled");
        assert!(!in_sled(&e, "c/x/9"), "the mapping never reached sled");
        let layers = e.layers.read().unwrap();
        assert_eq!(layers.active.len() + layers.held.len(), 0, "nothing left");
    }

    #[test]
    fn a_key_inserted_again_over_a_held_one_and_removed_stays_removed() {
        // a carrier that uses a message id again: its mapping is inserted anew while the
        // first one is still held back from sled
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        let mut b = WriteBatch::default();
        b.insert_new("c/x/1".as_bytes(), "old".as_bytes());
        e.apply(&mut b).unwrap();
        e.checkpoint_holding(true).unwrap();
        assert!(!in_sled(&e, "c/x/1"), "held back");
        let mut b = WriteBatch::default();
        b.insert_new("c/x/1".as_bytes(), "new".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "c/x/1").as_deref(), Some("new"));
        let mut b = WriteBatch::default();
        b.del("c/x/1".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "c/x/1"), None, "the held value shows through");
        e.checkpoint_holding(true).unwrap();
        e.checkpoint_holding(false).unwrap();
        assert_eq!(get(&e, "c/x/1"), None);
        assert!(!in_sled(&e, "c/x/1"));
    }

    #[test]
    fn a_key_written_anew_over_its_tombstone_still_hides_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        e.apply(&mut put("c/x/1", "old")).unwrap();
        e.checkpoint().unwrap();
        let mut b = WriteBatch::default();
        b.del("c/x/1".as_bytes());
        e.apply(&mut b).unwrap();
        // a writer that takes the key for new (a carrier reusing an id) is wrong about
        // sled; the tombstone in the memtable knows better
        let mut b = WriteBatch::default();
        b.insert_new("c/x/1".as_bytes(), "new".as_bytes());
        e.apply(&mut b).unwrap();
        let mut b = WriteBatch::default();
        b.del("c/x/1".as_bytes());
        e.apply(&mut b).unwrap();
        assert_eq!(get(&e, "c/x/1"), None, "the old value stays hidden");
        e.checkpoint().unwrap();
        assert!(!in_sled(&e, "c/x/1"), "and is removed from sled");
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("journal")).unwrap().count()
    }

    #[test]
    fn held_keys_survive_a_crash_in_the_segments_kept_for_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = Engine::open(dir.path(), 16).unwrap();
            let mut b = WriteBatch::default();
            b.insert_new("p/2".as_bytes(), "pdu".as_bytes());
            b.insert_new("m/2".as_bytes(), "meta".as_bytes());
            e.apply(&mut b).unwrap();
            for i in 0..3 {
                // other traffic moves on; m/2 reaches sled and is written again later
                let mut b = WriteBatch::default();
                b.put(format!("b/{i}").into_bytes(), b"1".to_vec());
                b.append("m/2".as_bytes(), format!("+{i}").into_bytes());
                e.apply(&mut b).unwrap();
                e.checkpoint_holding(true).unwrap();
            }
            assert!(!in_sled(&e, "p/2"), "held");
            assert!(in_sled(&e, "m/2"));
            assert!(
                segments(dir.path()) >= 4,
                "the segment p/2 was written in is kept"
            );
            // dropped without another checkpoint: p/2 is only in the journal
        }
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "p/2").as_deref(), Some("pdu"));
        assert_eq!(
            get(&e, "m/2").as_deref(),
            Some("meta+0+1+2"),
            "replaying segments sled already had leaves the newest value"
        );
        assert_eq!(
            segments(dir.path()),
            1,
            "replayed, then only a fresh segment"
        );
    }

    #[test]
    fn segments_go_once_no_held_key_needs_them() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        let mut b = WriteBatch::default();
        b.insert_new("p/5".as_bytes(), "pdu".as_bytes());
        e.apply(&mut b).unwrap();
        for i in 0..3 {
            let mut b = WriteBatch::default();
            b.put(format!("b/{i}").into_bytes(), b"1".to_vec());
            e.apply(&mut b).unwrap();
            e.checkpoint_holding(true).unwrap();
        }
        assert!(segments(dir.path()) >= 4);
        // the message ends: its marker goes, and with it the need for the old segments
        let mut b = WriteBatch::default();
        b.del("p/5".as_bytes());
        e.apply(&mut b).unwrap();
        e.checkpoint_holding(true).unwrap();
        assert!(!in_sled(&e, "p/5"), "never reached sled");
        assert_eq!(segments(dir.path()), 1, "only the current segment is left");
    }

    #[test]
    fn held_keys_reach_sled_when_old_or_idle() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), 16).unwrap();
        let mut b = WriteBatch::default();
        b.insert_new("p/3".as_bytes(), "pdu".as_bytes());
        e.apply(&mut b).unwrap();
        for i in 0..HOLD_GENERATIONS {
            assert!(!in_sled(&e, "p/3"), "held at checkpoint {i}");
            // other traffic keeps the store busy
            let mut b = WriteBatch::default();
            b.put(format!("b/{i}").into_bytes(), b"1".to_vec());
            e.apply(&mut b).unwrap();
            e.checkpoint_holding(true).unwrap();
        }
        assert!(in_sled(&e, "p/3"), "written once old");

        let mut b = WriteBatch::default();
        b.insert_new("p/4".as_bytes(), "pdu".as_bytes());
        e.apply(&mut b).unwrap();
        e.checkpoint_holding(true).unwrap();
        assert!(!in_sled(&e, "p/4"));
        e.checkpoint_holding(true).unwrap();
        assert!(in_sled(&e, "p/4"), "no writes since: an idle store drains");
    }

    #[test]
    fn journaled_writes_survive_a_crash_before_any_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        {
            let e = Engine::open(dir.path(), 16).unwrap();
            e.apply(&mut put("k", "1")).unwrap();
            e.checkpoint().unwrap();
            let mut b = WriteBatch::default();
            b.append("k".as_bytes(), "2".as_bytes());
            b.put("j".as_bytes(), "x".as_bytes());
            e.apply(&mut b).unwrap();
            // flush syncs on tokio's blocking pool
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(e.flush()).unwrap();
            // dropped without a checkpoint: only the journal has the second batch
        }
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "k").as_deref(), Some("12"));
        assert_eq!(get(&e, "j").as_deref(), Some("x"));
        drop(e);
        // replayed once: opening again must not append "2" a second time
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "k").as_deref(), Some("12"));
    }

    /// An engine whose disk fails as `spec` says (see `failpoint`), and what it stopped for.
    fn failing(dir: &Path, spec: &str) -> (Arc<Engine>, Arc<Mutex<Option<String>>>) {
        let stopped = Arc::new(Mutex::new(None));
        let s = stopped.clone();
        let opts = Options {
            cache_mb: 16,
            failpoints: Failpoints::leak(spec),
            on_stop: Box::new(move |why| *s.lock().unwrap() = Some(why.to_string())),
        };
        (Engine::open_with(dir, opts).unwrap(), stopped)
    }

    fn flush(e: &Engine) -> Result<(), StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(e.flush())
    }

    #[test]
    fn a_failed_journal_write_is_refused_and_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (e, stopped) = failing(
                dir.path(),
                "store.journal.write=2:eio,store.journal.write=3:enospc",
            );
            e.apply(&mut put("k/1", "a")).unwrap();
            let err = e.apply(&mut put("k/2", "b")).unwrap_err();
            assert_eq!(err.fate(), Fate::Refused, "{err}");
            let err = e.apply(&mut put("k/3", "c")).unwrap_err();
            assert_eq!(err.fate(), Fate::Full, "a full disk says so: {err}");
            assert!(e.health().unwrap_err().contains("cannot write"));
            assert_eq!(get(&e, "k/2"), None, "not visible");
            e.apply(&mut put("k/4", "d")).unwrap();
            assert!(e.health().is_ok(), "ready again once a write succeeds");
            flush(&e).unwrap();
            assert!(stopped.lock().unwrap().is_none(), "the store goes on");
        }
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "k/1").as_deref(), Some("a"));
        assert_eq!(get(&e, "k/2"), None, "a refused write never comes back");
        assert_eq!(get(&e, "k/3"), None);
        assert_eq!(get(&e, "k/4").as_deref(), Some("d"), "nor hides the next");
    }

    #[test]
    fn a_write_that_cannot_be_cut_back_stops_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (e, stopped) = failing(
            dir.path(),
            "store.journal.write=1:eio,store.journal.cut=1:eio",
        );
        let err = e.apply(&mut put("k/1", "a")).unwrap_err();
        assert_eq!(err.fate(), Fate::Unknown, "{err}");
        assert!(stopped.lock().unwrap().is_some());
        let err = e.apply(&mut put("k/2", "b")).unwrap_err();
        assert_eq!(err.fate(), Fate::Refused, "later writes are refused: {err}");
        assert!(e.health().is_err(), "and the store says it stopped");
    }

    #[test]
    fn a_failed_fsync_stops_the_store_and_no_later_fsync_vouches_for_anything() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (e, stopped) = failing(dir.path(), "store.journal.sync=2:eio");
            e.apply(&mut put("k/1", "a")).unwrap();
            flush(&e).unwrap();
            e.apply(&mut put("k/2", "b")).unwrap();
            let err = flush(&e).unwrap_err();
            assert_eq!(err.fate(), Fate::Unknown, "{err}");
            let why = stopped.lock().unwrap().clone().unwrap();
            assert!(why.contains("journal sync"), "{why}");
            // the fsync would succeed now (fsyncgate): it must not acknowledge anything
            assert_eq!(flush(&e).unwrap_err().fate(), Fate::Unknown);
            assert_eq!(
                e.apply(&mut put("k/3", "c")).unwrap_err().fate(),
                Fate::Refused
            );
            assert!(e.checkpoint().is_err(), "no checkpoint after the stop");
        }
        // the next start decides the unknown write: here it reached the file
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "k/1").as_deref(), Some("a"), "acknowledged: kept");
        assert_eq!(get(&e, "k/3"), None, "refused: never stored");
    }

    #[test]
    fn a_segment_that_cannot_be_created_delays_the_checkpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (e, stopped) = failing(dir.path(), "store.segment.create=2:enospc");
            e.apply(&mut put("k/1", "a")).unwrap();
            let err = e.checkpoint().unwrap_err();
            assert_eq!(err.fate(), Fate::Full, "{err}");
            e.apply(&mut put("k/2", "b")).unwrap();
            flush(&e).unwrap();
            assert!(stopped.lock().unwrap().is_none());
            e.checkpoint().unwrap();
            assert!(in_sled(&e, "k/1") && in_sled(&e, "k/2"));
            e.apply(&mut put("k/3", "c")).unwrap();
            flush(&e).unwrap();
        }
        let e = Engine::open(dir.path(), 16).unwrap();
        for (k, v) in [("k/1", "a"), ("k/2", "b"), ("k/3", "c")] {
            assert_eq!(get(&e, k).as_deref(), Some(v));
        }
    }

    #[test]
    fn a_failed_checkpoint_keeps_everything_and_the_next_one_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (e, stopped) = failing(
                dir.path(),
                "store.checkpoint.write=1:eio,store.checkpoint.flush=1:eio",
            );
            e.apply(&mut put("k/1", "a")).unwrap();
            assert!(e.checkpoint().is_err());
            e.apply(&mut put("k/2", "b")).unwrap();
            assert!(e.checkpoint().is_err(), "the flush fails this time");
            assert_eq!(get(&e, "k/1").as_deref(), Some("a"), "still readable");
            e.checkpoint().unwrap();
            e.checkpoint().unwrap();
            assert!(in_sled(&e, "k/1") && in_sled(&e, "k/2"));
            assert!(stopped.lock().unwrap().is_none());
        }
        let e = Engine::open(dir.path(), 16).unwrap();
        assert_eq!(get(&e, "k/1").as_deref(), Some("a"));
        assert_eq!(get(&e, "k/2").as_deref(), Some("b"));
    }

    #[test]
    fn a_failed_fsync_at_rotation_stops_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (e, stopped) = failing(dir.path(), "store.journal.sync=1:eio");
        e.apply(&mut put("k/1", "a")).unwrap();
        assert_eq!(e.checkpoint().unwrap_err().fate(), Fate::Unknown);
        assert!(stopped.lock().unwrap().is_some());
    }

    #[test]
    fn a_panic_in_the_checkpoint_thread_stops_the_store() {
        let dir = tempfile::tempdir().unwrap();
        // a failpoint with no error armed panics
        let (e, stopped) = failing(dir.path(), "store.checkpoint.write=1");
        e.apply(&mut put("k/1", "a")).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while stopped.lock().unwrap().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let why = stopped.lock().unwrap().clone();
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("checkpoint panicked")),
            "{why:?}"
        );
        assert!(e.apply(&mut put("k/2", "b")).is_err());
    }

    #[test]
    fn ids_never_repeat_across_crashes_in_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut last = None;
        for _ in 0..4 {
            // each run takes a few ids and uses one in a journaled write, then "crashes"
            // (dropped without a checkpoint: only the journal has its writes)
            let e = Engine::open(dir.path(), 16).unwrap();
            for _ in 0..3 {
                let id = e.generate_id().unwrap();
                assert!(seen.insert(id), "id {id} handed out twice");
                assert!(last.is_none_or(|l| id > l), "ids rise");
                last = Some(id);
            }
            e.apply(&mut put(&format!("m/{last:?}"), "x")).unwrap();
            flush(&e).unwrap();
        }
    }
}
