//! Throughput of the emulator on loopback: the figure issue 3 asks for
//! (at least 2,000 requests/s with 64 concurrent clients on two cores).
//!
//! A plain binary rather than a statistical harness: what matters is one
//! honest number under a realistic mix, not nanosecond noise. It starts the
//! emulator in-process with a few thousand inventory SIMs, runs 64 client
//! threads (reqwest blocking, keep-alive, one connection each) through a fixed
//! number of requests — SIM searches, plan lists and SIM reads in equal
//! parts — and prints requests/s and the p50/p99 latency.
//!
//! Run: `cargo bench --bench emulator_throughput`
//! (`-- --requests N --clients C --sims S` to change the load).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::json;
use simboard::emulator::{Emulator, EmulatorConfig};

struct Load {
    requests: usize,
    clients: usize,
    sims: usize,
}

fn load_from_args() -> Load {
    let mut load = Load {
        requests: 40_000,
        clients: 64,
        sims: 5_000,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = pair[1].parse().ok();
        match (pair[0].as_str(), value) {
            ("--requests", Some(n)) => load.requests = n,
            ("--clients", Some(n)) => load.clients = n,
            ("--sims", Some(n)) => load.sims = n,
            _ => {}
        }
    }
    load
}

/// A valid 20-digit ICCID with this serial.
fn iccid(serial: usize) -> String {
    let payload = format!("8988307{serial:012}");
    let check = simboard::iccid::luhn_check_digit(payload.as_bytes());
    format!("{payload}{check}")
}

fn main() {
    let load = load_from_args();
    let iccids: Vec<String> = (0..load.sims).map(iccid).collect();
    let emulator = Emulator::start(EmulatorConfig {
        inventory_iccids: iccids.clone(),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts");
    let state = emulator.state();
    let sim_ids: Vec<String> = state["sims"]
        .as_array()
        .expect("a SIM list")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sim_ids.len(), load.sims);

    let base = format!("{}/projects/{}", emulator.url(), emulator.project());
    let token = emulator.token().to_owned();
    let per_client = load.requests.div_ceil(load.clients);
    let barrier = Barrier::new(load.clients + 1);

    let (elapsed, mut latencies, failures) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..load.clients)
            .map(|worker| {
                let (base, token, iccids, sim_ids, barrier) =
                    (&base, &token, &iccids, &sim_ids, &barrier);
                scope.spawn(move || {
                    let http = Client::builder()
                        .pool_max_idle_per_host(1)
                        .timeout(Duration::from_secs(30))
                        .build()
                        .expect("a client");
                    // Open the keep-alive connection before the clock starts.
                    let _ = http.get(format!("{base}/plans")).bearer_auth(token).send();
                    barrier.wait();
                    let mut latencies = Vec::with_capacity(per_client);
                    let mut failures = 0usize;
                    let mut rng = fastrand::Rng::with_seed(worker as u64);
                    for i in 0..per_client {
                        let started = Instant::now();
                        let request = match (worker + i) % 3 {
                            0 => http
                                .post(format!("{base}/sims/search"))
                                .json(&json!({ "iccid": iccids[rng.usize(..iccids.len())] })),
                            1 => http.get(format!("{base}/plans")),
                            _ => http.get(format!(
                                "{base}/sims/{}",
                                sim_ids[rng.usize(..sim_ids.len())]
                            )),
                        };
                        let ok = request
                            .bearer_auth(token)
                            .send()
                            .and_then(|r| {
                                let ok = r.status().is_success();
                                r.bytes().map(|_| ok)
                            })
                            .unwrap_or(false);
                        latencies.push(started.elapsed());
                        failures += usize::from(!ok);
                    }
                    (latencies, failures)
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("a client thread"))
            .collect();
        let elapsed = started.elapsed();
        let failures = results.iter().map(|(_, f)| f).sum::<usize>();
        let latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
        (elapsed, latencies, failures)
    });

    latencies.sort();
    let total = latencies.len();
    let quantile = |q: f64| latencies[((total as f64 * q) as usize).min(total - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "emulator throughput: {total} requests, {} clients, {} SIMs",
        load.clients, load.sims
    );
    println!("  elapsed      {:.2} s", elapsed.as_secs_f64());
    println!(
        "  throughput   {:.0} requests/s",
        total as f64 / elapsed.as_secs_f64()
    );
    println!("  latency p50  {:.2} ms", ms(quantile(0.50)));
    println!("  latency p99  {:.2} ms", ms(quantile(0.99)));
    println!("  failures     {failures}");
    emulator.shutdown();
    if failures > 0 {
        std::process::exit(1);
    }
}
