//! `tern-load scenario chaos`: what four misbehaving carriers cost a healthy one. The same
//! load goes to a healthy carrier's route twice: once with that carrier alone, once beside
//! four others that hang, drop their binds, answer garbage and throttle everything, each
//! with a trickle of traffic of its own (from another account, so each load gets only its
//! own receipts) that fails over to the healthy carrier. The figure
//! is the ratio of the two throughputs (goal: at least 0.9).

use std::path::Path;
use std::time::Duration;

use crate::e2e::{CarrierSpec, Tern, in_temp_dir, node_keys, start_sim};
use crate::esme::{self, Load};
use crate::report::Report;

/// The misbehaving carriers: id, route prefix, simulator flags.
const BROKEN: [(&str, &str, &[&str]); 4] = [
    ("hang", "4911", &["--hang-after", "0"]),
    ("drop", "4912", &["--disconnect-every", "50"]),
    ("junk", "4913", &["--garbage"]),
    ("slow", "4914", &["--throttle-every", "1"]),
];
/// The healthy carrier's route.
const GOOD_PREFIX: &str = "4915";
/// Messages per second each broken route is offered while the main load runs.
const TRICKLE_RATE: u64 = 250;
/// The breakers and timeouts of the broken carriers: quick to give up, quick to retry.
const FAST_FAILURE: &str = "response_timeout_s = 2\nbreaker_failures = 5\nbreaker_cooldown_s = 5";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The healthy carrier alone, under `main`.
async fn alone(tern_bin: &Path, main: &Load) -> Result<Report, String> {
    in_temp_dir("chaos-alone", async |dir| {
        let (_good, addr) =
            start_sim(tern_bin, &strings(&["--dlr-delay-ms", "10"]), dir, "good").await?;
        let carriers = [CarrierSpec {
            id: "good",
            sim: addr,
            tps: 10_000_000,
            extra: "",
        }];
        let routes = format!("[[routes]]\nprefix = \"{GOOD_PREFIX}\"\ncarriers = [\"good\"]\n");
        let tern =
            Tern::start(tern_bin, dir, &node_keys("fsync", None), &carriers, &routes).await?;
        let r = esme::run(&tern.load(main)).await;
        tern.stop().await?;
        Ok(r)
    })
    .await
}

/// The healthy carrier beside the four broken ones, under `main` plus a trickle on each
/// broken route for `trickle_for`; returns the main report and the trickle's.
async fn beside_broken(
    tern_bin: &Path,
    main: &Load,
    trickle_for: Duration,
) -> Result<(Report, Report), String> {
    in_temp_dir("chaos", async |dir| {
        let (_good, good_addr) =
            start_sim(tern_bin, &strings(&["--dlr-delay-ms", "10"]), dir, "good").await?;
        let mut sims = Vec::new();
        for (id, _, args) in BROKEN {
            let mut a = strings(args);
            a.extend(strings(&["--dlr-delay-ms", "10"]));
            sims.push(start_sim(tern_bin, &a, dir, id).await?);
        }
        let mut carriers = vec![CarrierSpec {
            id: "good",
            sim: good_addr,
            tps: 10_000_000,
            extra: "",
        }];
        let mut routes = format!("[[routes]]\nprefix = \"{GOOD_PREFIX}\"\ncarriers = [\"good\"]\n");
        for ((id, prefix, _), (_, addr)) in BROKEN.iter().zip(&sims) {
            carriers.push(CarrierSpec {
                id,
                sim: *addr,
                tps: 2_000,
                extra: FAST_FAILURE,
            });
            routes +=
                &format!("[[routes]]\nprefix = \"{prefix}\"\ncarriers = [\"{id}\", \"good\"]\n");
        }
        let tern =
            Tern::start(tern_bin, dir, &node_keys("fsync", None), &carriers, &routes).await?;
        // one load over the four broken routes, from another account
        let trickle = tern.load_as(
            &Load {
                sessions: 4,
                window: 20,
                rate: TRICKLE_RATE * BROKEN.len() as u64,
                duration: Some(trickle_for),
                messages: u64::MAX,
                dest_prefixes: BROKEN.iter().map(|(_, p, _)| p.to_string()).collect(),
                ..main.clone()
            },
            "side",
        );
        let main_load = tern.load(main);
        let (r, trickled) = tokio::join!(esme::run(&main_load), esme::run(&trickle));
        tern.stop().await?;
        Ok((r, trickled))
    })
    .await
}

/// Runs the scenario; true when every message was receipted and the goal held.
pub async fn run(tern_bin: &Path, main: Load, out: Option<&Path>) -> Result<bool, String> {
    let main = Load {
        dest_prefixes: vec![GOOD_PREFIX.into()],
        ..main
    };
    let solo = alone(tern_bin, &main).await?;
    solo.print("the healthy carrier alone");
    let trickle_for = Duration::from_secs_f64(solo.seconds.max(1.0));
    let (with, trickle) = beside_broken(tern_bin, &main, trickle_for).await?;
    with.print("the healthy carrier beside four broken ones");
    trickle.print(&format!(
        "meanwhile {TRICKLE_RATE} msg/s offered to each broken route (they fail over)"
    ));
    let ratio = with.throughput() / solo.throughput().max(1e-9);
    let complete = solo.complete() && with.complete() && trickle.complete();
    println!(
        "== chaos: healthy carrier at {:.2} of its throughput alone ({}); every message receipted once: {}",
        ratio,
        if ratio >= 0.9 {
            "goal 0.9 met"
        } else {
            "goal 0.9 NOT met"
        },
        complete
    );
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let json = serde_json::json!({
            "load": main.line(),
            "alone": solo.json(),
            "beside_broken": with.json(),
            "broken_routes": trickle.json(),
            "ratio": ratio,
            "complete": complete,
        });
        let p = dir.join("chaos.json");
        std::fs::write(&p, format!("{json:#}\n"))
            .map_err(|err| format!("{}: {err}", p.display()))?;
        let p = dir.join("chaos.svg");
        let title = format!(
            "chaos: {} to the healthy carrier beside four broken ones",
            main.line()
        );
        std::fs::write(&p, crate::plot::svg(&title, &with, &[]))
            .map_err(|err| format!("{}: {err}", p.display()))?;
        println!("   wrote {}/chaos.json and chaos.svg", dir.display());
    }
    Ok(complete && ratio >= 0.9)
}
