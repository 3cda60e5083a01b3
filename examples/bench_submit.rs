//! Benchmarks only (docs/benchmarks.md): post every prepared submission once (the file
//! benches/setup.py writes: path, participant token, idempotency key, body), CONNECTIONS at a
//! time, and report each request's latency. A submission succeeds only once, so a time-based
//! load generator would run out of work; this one sends exactly the prepared set.
//!
//!   cargo run --release --example bench_submit -- http://127.0.0.1:8080 submissions.txt 16
//!
//! BASE may list several instances, comma-separated: connection i sends to instance i mod n
//! (the load split as a load balancer would).

use std::{sync::Arc, time::Instant};

use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: BASE FILE CONNECTIONS"))?;
    let file = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: BASE FILE CONNECTIONS"))?;
    let connections: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(16);
    let lines: Vec<String> = std::fs::read_to_string(&file)?
        .lines()
        .map(String::from)
        .collect();
    let queue = Arc::new(Mutex::new(lines.into_iter().rev().collect::<Vec<_>>()));
    let bases: Vec<String> = base.split(',').map(String::from).collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..connections {
        let base = bases[i % bases.len()].clone();
        let (queue, client) = (queue.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let Some(line) = queue.lock().await.pop() else {
                    break;
                };
                let mut parts = line.splitn(4, '\t');
                let (Some(path), Some(token), Some(key), Some(body)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let t = Instant::now();
                let status = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", key)
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                out.push((t.elapsed().as_secs_f64() * 1000.0, status));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = all.iter().filter(|(_, s)| !(200..300).contains(s)).count();
    let mut ms: Vec<f64> = all.iter().map(|(m, _)| *m).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "requests {} failed {} elapsed_s {:.2} rps {:.1} median_ms {:.2} p99_ms {:.2}",
        all.len(),
        failed,
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
