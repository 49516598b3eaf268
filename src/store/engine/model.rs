//! The engine against a plain in-memory model: random batches, fsyncs, checkpoints (held
//! and not), disk failures at every point the engine has one, and crashes that tear the
//! journal's unsynced tail anywhere. After each recovery the store must hold the model's
//! last acknowledged state plus some prefix of the batches applied after it (never a
//! refused one, never a gap), and reads before the crash must see what was applied.
//!
//! `PROPTEST_CASES=2000 cargo test --lib store::engine::model` for a long run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::{Engine, Options};
use crate::failpoint::Failpoints;
use crate::store::kv::{Fate, Kv, Op, StoreError, WriteBatch};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Key prefixes: held ones (`p/`, `c/`, `o/`) and plain ones.
const PREFIXES: [&str; 5] = ["p/", "c/", "o/", "m/", "b/"];

/// One write as generated; fresh keys are named when it runs.
#[derive(Debug, Clone)]
enum W {
    Put(u8, u8),
    /// A key never written before (a new message's), under one of the prefixes.
    Insert(u8),
    Del(u8),
    Append(u8, u8),
    /// A write to a key an `Insert` made earlier.
    DelFresh(u8),
    AppendFresh(u8, u8),
}

#[derive(Debug, Clone)]
enum Step {
    Write(Vec<W>),
    Flush,
    /// A checkpoint, with batches written while it runs unlocked (between its freeze and
    /// its thaw).
    Checkpoint {
        hold: bool,
        between: Vec<Vec<W>>,
    },
}

/// Steps between two crashes, the disk failures armed for them, and how much of the
/// journal's unsynced tail the crash keeps (out of 255).
#[derive(Debug, Clone)]
struct Epoch {
    steps: Vec<Step>,
    faults: Vec<(usize, u8, bool)>,
    keep: u8,
}

const POINTS: [&str; 6] = [
    "store.journal.write",
    "store.journal.cut",
    "store.journal.sync",
    "store.segment.create",
    "store.checkpoint.write",
    "store.checkpoint.flush",
];

fn write() -> impl Strategy<Value = W> {
    prop_oneof![
        (0u8..25, any::<u8>()).prop_map(|(k, v)| W::Put(k, v)),
        (0u8..5).prop_map(W::Insert),
        (0u8..25).prop_map(W::Del),
        (0u8..25, any::<u8>()).prop_map(|(k, v)| W::Append(k, v)),
        any::<u8>().prop_map(W::DelFresh),
        (any::<u8>(), any::<u8>()).prop_map(|(k, v)| W::AppendFresh(k, v)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(write(), 1..6).prop_map(Step::Write),
        2 => Just(Step::Flush),
        1 => (any::<bool>(), prop::collection::vec(prop::collection::vec(write(), 1..6), 0..3))
            .prop_map(|(hold, between)| Step::Checkpoint { hold, between }),
    ]
}

fn epoch() -> impl Strategy<Value = Epoch> {
    (
        prop::collection::vec(step(), 1..40),
        prop::collection::vec((0..POINTS.len(), 1u8..20, any::<bool>()), 0..3),
        any::<u8>(),
    )
        .prop_map(|(steps, faults, keep)| Epoch {
            steps,
            faults,
            keep,
        })
}

fn key(k: u8) -> Vec<u8> {
    format!("{}{}", PREFIXES[usize::from(k) % 5], k / 5).into_bytes()
}

/// Applies `ops` to `state` as the engine does.
fn apply(state: &mut State, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(k, v) | Op::Insert(k, v) => {
                state.insert(k.clone(), v.clone());
            }
            Op::Del(k) => {
                state.remove(k);
            }
            Op::Append(k, v) => state.entry(k.clone()).or_default().extend_from_slice(v),
        }
    }
}

/// Everything the engine holds, as the model sees it (sled's own marker left out).
fn contents(e: &Engine) -> State {
    e.scan_prefix(b"")
        .into_iter()
        .map(|r| r.expect("scan"))
        .filter(|(k, _)| !k.starts_with(b"~"))
        .collect()
}

/// Opens the engine on `dir`. The engine before it may still be going away: its
/// checkpoint thread can hold the last reference for the length of a checkpoint, and sled
/// keeps its lock until then (a real crash ends every thread at once), so a start that
/// finds the lock held waits for it, for a bounded time.
fn open(dir: &Path, spec: &str) -> Result<Arc<Engine>, StoreError> {
    let t = std::time::Instant::now();
    loop {
        let opts = Options {
            failpoints: Failpoints::leak(spec),
            ..Options::new(4)
        };
        match Engine::open_with(dir, opts) {
            Err(e) if e.what().contains("in use") && t.elapsed().as_secs() < 30 => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// The process dies here: no checkpoint runs after this point (one under way finishes
/// first, as it would have before a real crash). Returns the journal segment being written.
fn crash(e: Arc<Engine>) -> u64 {
    let cur = {
        let _none_after = e.checkpointing.lock().expect("checkpointing");
        // every checkpoint from here on is refused
        e.stop.stop("the test's crash");
        e.journal.lock().expect("journal").current()
    };
    drop(e);
    cur
}

fn flush(e: &Engine) -> Result<(), StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(e.flush())
}

/// What the model knows of one run: what reads must see, the batches applied since the
/// last good flush (after a crash any prefix of them may be there), and the fresh keys made.
#[derive(Default)]
struct Book {
    visible: State,
    unacked: Vec<Vec<Op>>,
    fresh: Vec<Vec<u8>>,
    next_fresh: u32,
}

/// Writes one generated batch; false once the store has stopped (its fate unknown).
fn write_batch(e: &Engine, ws: Vec<W>, book: &mut Book) -> bool {
    let mut b = WriteBatch::default();
    for w in ws {
        match w {
            W::Put(k, v) => b.put(key(k), vec![v]),
            W::Del(k) => b.del(key(k)),
            W::Append(k, v) => b.append(key(k), vec![v]),
            W::Insert(p) => {
                let k = format!("{}n{}", PREFIXES[usize::from(p)], book.next_fresh);
                book.next_fresh += 1;
                book.fresh.push(k.clone().into_bytes());
                b.insert_new(k, vec![p]);
            }
            W::DelFresh(i) if !book.fresh.is_empty() => {
                b.del(book.fresh[usize::from(i) % book.fresh.len()].clone())
            }
            W::AppendFresh(i, v) if !book.fresh.is_empty() => b.append(
                book.fresh[usize::from(i) % book.fresh.len()].clone(),
                vec![v],
            ),
            W::DelFresh(_) | W::AppendFresh(..) => {}
        }
    }
    let ops = b.ops.clone();
    match e.apply(&mut b) {
        Ok(()) => {
            apply(&mut book.visible, &ops);
            book.unacked.push(ops);
            true
        }
        Err(err) if err.fate() == Fate::Unknown => {
            book.unacked.push(ops);
            false
        }
        // refused: no trace, in the model either
        Err(_) => true,
    }
}

/// Runs `epochs`, crashing after each, and checks every recovery against the model.
fn run(epochs: Vec<Epoch>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked = State::new();
    let mut book = Book::default();
    for ep in epochs {
        let spec: Vec<String> = ep
            .faults
            .iter()
            .map(|&(p, n, full)| {
                format!("{}={n}:{}", POINTS[p], if full { "enospc" } else { "eio" })
            })
            .collect();
        // a start whose disk fails does not start, and changes nothing: the next one does
        let e = match open(dir.path(), &spec.join(",")) {
            Ok(opened) => opened,
            Err(_) => open(dir.path(), "").expect("a start on a working disk"),
        };
        let found = contents(&e);
        prop_assert_eq!(&found, &acked, "a start with nothing unacknowledged");
        // what reads see, and the batches applied since the last good flush: after a crash
        // any prefix of them may be there
        book.visible = acked.clone();
        book.unacked.clear();
        let mut synced = (e.journal.lock().expect("journal").current(), 0u64);
        for step in ep.steps {
            match step {
                Step::Write(ws) => {
                    if !write_batch(&e, ws, &mut book) {
                        break;
                    }
                }
                Step::Flush => match flush(&e) {
                    Ok(()) => {
                        acked = book.visible.clone();
                        book.unacked.clear();
                        let cur = e.journal.lock().expect("journal").current();
                        let len = std::fs::metadata(segment(dir.path(), cur))
                            .map(|m| m.len())
                            .unwrap_or(0);
                        synced = (cur, len);
                    }
                    Err(err) => {
                        prop_assert_eq!(err.fate(), Fate::Unknown);
                        break;
                    }
                },
                Step::Checkpoint { hold, between } => {
                    // the steps of `checkpoint_holding`, with writes where it holds no lock
                    let _one = e.checkpointing.lock().expect("checkpointing");
                    let frozen = match e.freeze(hold) {
                        Ok(f) => f,
                        Err(err) if err.fate() == Fate::Unknown => break,
                        Err(_) => None,
                    };
                    let mut stopped = false;
                    for ws in between {
                        if !write_batch(&e, ws, &mut book) {
                            stopped = true;
                            break;
                        }
                        prop_assert_eq!(
                            contents(&e),
                            book.visible.clone(),
                            "reads see writes made during a checkpoint"
                        );
                    }
                    if stopped {
                        break;
                    }
                    if let Some(f) = frozen {
                        match e.write_out(&f).and_then(|carried| e.thaw(f, carried)) {
                            Err(err) if err.fate() == Fate::Unknown => break,
                            _ => {}
                        }
                    }
                }
            }
            if e.stop.stopped().is_some() {
                break;
            }
            prop_assert_eq!(
                contents(&e),
                book.visible.clone(),
                "reads see every applied write"
            );
        }
        // the crash: the process dies, and the OS loses some of the current segment's
        // unsynced tail (the rest of the journal was synced when it rotated)
        let cur = crash(e);
        let path = segment(dir.path(), cur);
        if let Ok(m) = std::fs::metadata(&path) {
            let from = if synced.0 == cur { synced.1 } else { 0 };
            let tail = m.len().saturating_sub(from);
            let keep = from + tail * u64::from(ep.keep) / 255;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("segment");
            f.set_len(keep).expect("tear");
        }
        // recovery: the acknowledged state and some prefix of what followed it
        let e = open(dir.path(), "").expect("a start after the crash");
        let found = contents(&e);
        let mut candidate = acked.clone();
        let mut ok = found == candidate;
        for ops in &book.unacked {
            if ok {
                break;
            }
            apply(&mut candidate, ops);
            ok = found == candidate;
        }
        prop_assert!(
            ok,
            "recovered state is the acknowledged one plus a prefix of {} later batches\nfound: {:?}\nacked: {:?}",
            book.unacked.len(),
            found,
            acked
        );
        acked = found;
        crash(e);
    }
    Ok(())
}

fn segment(dir: &Path, seq: u64) -> std::path::PathBuf {
    dir.join("journal").join(format!("{seq:020}.wal"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn recovery_gives_the_acknowledged_state_plus_a_prefix_of_the_rest(
        epochs in prop::collection::vec(epoch(), 1..5)
    ) {
        run(epochs)?;
    }
}
