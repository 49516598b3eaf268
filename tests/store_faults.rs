//! The store's error policy, driven through the real binary: a failed fsync stops tern
//! (exit 74) without telling any ESME a lie, a full disk refuses submits with
//! ESME_RMSGQFUL while tern keeps serving, and after either the restart on the same data
//! holds every acknowledged message, none that was refused, and a balance charged for
//! exactly the stored ones.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const PRICE_MICROS: i64 = 10_000; // "0.01"
const OPENING_MICROS: i64 = 100_000_000; // "100.00"
const ESME_RMSGQFUL: u32 = 0x14;

fn body(sim: &Sim) -> String {
    format!(
        "{}{}{}",
        account(
            "demo",
            "demopass",
            "balance = \"100.00\"\nprice = \"0.01\"\ntps = 100000"
        ),
        carrier("c1", sim.port, ""),
        route("", &["c1"])
    )
}

/// What became of each submit, by its destination number.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Acked(String),
    Refused(u32),
    /// No answer: the connection closed first.
    Unanswered,
}

fn dest(i: u32) -> String {
    format!("4917{i:08}")
}

/// Submits on one TX bind, 20 at a time, until `enough` says so or `max` are sent.
async fn submit_until(
    t: &Tern,
    max: u32,
    enough: impl Fn(&BTreeMap<u32, Outcome>) -> bool,
) -> BTreeMap<u32, Outcome> {
    let e = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("bind");
    let out: Arc<Mutex<BTreeMap<u32, Outcome>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(20));
    let mut tasks = Vec::new();
    for i in 0..max {
        if enough(&out.lock().unwrap()) {
            break;
        }
        let Ok(permit) =
            tokio::time::timeout(Duration::from_secs(30), sem.clone().acquire_owned()).await
        else {
            break;
        };
        let (c, out2) = (e.client.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            let o = match submit(&c, sm("ACME", &dest(i), "fault")).await {
                Ok(id) => Outcome::Acked(id),
                Err(u32::MAX) => Outcome::Unanswered,
                Err(st) => Outcome::Refused(st),
            };
            out2.lock().unwrap().insert(i, o);
            drop(permit);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    std::mem::take(&mut *out.lock().unwrap())
}

/// After a restart: the balance says how many messages are stored; every one of them
/// must come back as a receipt, and they must be exactly the acknowledged ones plus some
/// unanswered ones, never a refused one.
async fn check_after_restart(t: &Tern, outcomes: &BTreeMap<u32, Outcome>) {
    let charged = OPENING_MICROS - micros(&t.balance("demo").await);
    assert_eq!(charged % PRICE_MICROS, 0, "a whole number of charges");
    let stored = (charged / PRICE_MICROS) as usize;
    let mut rx = bind(t.smpp, "demo", "demopass", Mode::Rx)
        .await
        .expect("bind rx");
    let mut sent: HashSet<String> = HashSet::new();
    let t0 = Instant::now();
    while sent.len() < stored {
        let left = Duration::from_secs(60).saturating_sub(t0.elapsed());
        match tokio::time::timeout(left, rx.receipts.recv()).await {
            Ok(Some(r)) => {
                sent.insert(r.source);
            }
            _ => break,
        }
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.values().filter(|o| f(o)).count();
    eprintln!(
        "{} acknowledged, {} refused, {} unanswered; {stored} stored, {} receipted",
        count(|o| matches!(o, Outcome::Acked(_))),
        count(|o| matches!(o, Outcome::Refused(_))),
        count(|o| matches!(o, Outcome::Unanswered)),
        sent.len()
    );
    assert_eq!(
        sent.len(),
        stored,
        "a receipt for every stored (charged) message"
    );
    for (i, o) in outcomes {
        let was_sent = sent.contains(&dest(*i));
        match o {
            Outcome::Acked(id) => assert!(was_sent, "acknowledged {id} (#{i}) lost"),
            Outcome::Refused(st) => {
                assert!(!was_sent, "#{i} refused with {st:#x} but sent")
            }
            Outcome::Unanswered => {}
        }
    }
    let submitted: HashSet<String> = outcomes.keys().map(|i| dest(*i)).collect();
    assert!(
        sent.is_subset(&submitted),
        "only numbers that were submitted"
    );
}

#[tokio::test]
async fn a_failed_fsync_stops_tern_and_the_restart_keeps_what_was_acknowledged() {
    let sim = Sim::start(&["--dlr-delay-ms", "100"]).await;
    let mut t = Tern::start_failing("store.journal.sync=80:eio", &body(&sim)).await;
    let outcomes = submit_until(&t, 20_000, |_| false).await;
    let status = t.wait_exit(30).await.expect("tern stops itself");
    assert_eq!(status.code(), Some(74), "EX_IOERR");
    let log = t.log();
    assert!(
        log.contains("store stopped") && log.contains("journal sync"),
        "one clear line says why: {log}"
    );
    assert!(
        outcomes.values().any(|o| matches!(o, Outcome::Acked(_))),
        "some were acknowledged before the failure"
    );
    assert!(
        !outcomes.values().any(|o| matches!(o, Outcome::Refused(_))),
        "no ESME was told its message failed: its fate was unknown ({:?})",
        outcomes.values().find(|o| matches!(o, Outcome::Refused(_)))
    );
    t.arm(None);
    t.restart().await;
    check_after_restart(&t, &outcomes).await;
}

#[tokio::test]
async fn a_full_disk_refuses_with_msgqful_and_tern_keeps_serving() {
    let sim = Sim::start(&["--dlr-delay-ms", "100"]).await;
    let mut t = Tern::start_failing("store.journal.write=150+:enospc", &body(&sim)).await;
    let refused = |o: &BTreeMap<u32, Outcome>| {
        o.values()
            .filter(|o| matches!(o, Outcome::Refused(_)))
            .count()
    };
    let outcomes = submit_until(&t, 20_000, |o| refused(o) >= 50).await;
    assert!(refused(&outcomes) >= 50, "the full disk refused submits");
    for o in outcomes.values() {
        assert!(
            matches!(o, Outcome::Acked(_) | Outcome::Refused(ESME_RMSGQFUL)),
            "a full store answers ESME_RMSGQFUL: {o:?}"
        );
    }
    // still serving: the API answers, readiness says why not
    let (code, ready) = t.get("/health/ready").await;
    assert_eq!(code, 503, "{ready}");
    assert!(ready.contains("cannot write"), "{ready}");
    let (code, _) = t.get("/api/v1/accounts/demo").await;
    assert_eq!(code, 200);
    // and the ESME's session too: a new submit is refused the same way, not dropped
    let e = bind(t.smpp, "demo", "demopass", Mode::Tx)
        .await
        .expect("bind");
    assert_eq!(
        submit(&e.client, sm("ACME", "447700900000", "more")).await,
        Err(ESME_RMSGQFUL)
    );
    t.kill9();
    t.arm(None);
    t.restart().await;
    check_after_restart(&t, &outcomes).await;
}

/// A tmpfs mounted on a folder for the length of a test (needs root: CAP_SYS_ADMIN).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_real_full_disk_refuses_and_the_restart_on_more_room_loses_nothing() {
    let sim = Sim::start(&["--dlr-delay-ms", "100"]).await;
    let mut t = Tern::prepare("", "", &body(&sim));
    let Some(disk) = Tmpfs::mount(&t.dir.path().join("data"), "12m") else {
        eprintln!("skipped: this machine does not let the test mount a tmpfs (not root)");
        return;
    };
    t.restart().await;
    let refused = |o: &BTreeMap<u32, Outcome>| {
        o.values()
            .filter(|o| matches!(o, Outcome::Refused(_)))
            .count()
    };
    let outcomes = submit_until(&t, 200_000, |o| refused(o) >= 50).await;
    assert!(refused(&outcomes) >= 50, "the disk filled up");
    for o in outcomes.values() {
        assert!(
            matches!(
                o,
                Outcome::Acked(_) | Outcome::Refused(ESME_RMSGQFUL) | Outcome::Unanswered
            ),
            "a full disk answers ESME_RMSGQFUL: {o:?}"
        );
    }
    let (code, ready) = t.get("/health/ready").await;
    assert_eq!(code, 503, "{ready}");
    t.kill9();
    // the operator makes room, and starts tern on the same data
    disk.resize("64m");
    t.restart().await;
    check_after_restart(&t, &outcomes).await;
}
