//! The capacity and cost model of `docs/scaling.md`, computed from one bench run's
//! end-to-end measurements (`e2e.rs`) and written between its `cost:begin`/`cost:end`
//! markers. Every input is either measured in the run or a constant below with its source;
//! the report says which is which.

use std::fmt::Write as _;
use std::time::Duration;

use crate::e2e::Row;

/// The product's traffic mix over the measured flows — an assumption, not a measurement:
/// chat dominates a conversational shop; carts are filled from the quotes chat produces;
/// every card checkout is followed by one `checkout.session.completed` delivery.
pub const MIX: [(&str, f64); 5] = [
    ("chat message", 0.60),
    ("cart add", 0.20),
    ("wallet sign", 0.04),
    ("checkout (card)", 0.08),
    ("Stripe webhook", 0.08),
];

/// The rates the model is evaluated at.
const RATES: [f64; 2] = [1_000.0, 10_000.0];

// Prices, us-east-1, on-demand, list prices as published on the AWS pricing pages
// (aws.amazon.com/lambda/pricing, /rds/aurora/pricing, /rds/proxy/pricing,
// /dynamodb/pricing/on-demand, /kms/pricing, /api-gateway/pricing) in 2025–2026.
const LAMBDA_PER_MILLION: f64 = 0.20;
/// arm64, first 7.5 billion GB-s a month.
const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
/// HTTP API, first 300 million requests a month.
const HTTP_API_PER_MILLION: f64 = 1.00;
/// On-demand, after the November 2024 reduction.
const DYNAMODB_WRITE_PER_MILLION: f64 = 0.625;
const DYNAMODB_READ_PER_MILLION: f64 = 0.125;
/// $0.03 per 10 000 requests.
const KMS_PER_MILLION: f64 = 3.00;
const AURORA_ACU_HOUR: f64 = 0.12;
/// RDS Proxy in front of Aurora Serverless v2: per ACU-hour of the database, at least 8 ACUs.
const PROXY_ACU_HOUR: f64 = 0.015;
const PROXY_MIN_ACU: f64 = 8.0;
const AURORA_MIN_ACU: f64 = 0.5;
/// An ACU is about 2 GiB "with corresponding CPU"; the memory-optimised classes Aurora runs
/// on have 8 GiB per vCPU, so an ACU is taken as a quarter of a vCPU. Capacity is sized to
/// keep the database's CPU at 70 % or less.
const VCPU_PER_ACU: f64 = 0.25;
const TARGET_CPU: f64 = 0.70;

/// Parley's functions are configured with 128 MB (`infra/template.yaml`).
const RUST_MEMORY_GB: f64 = 128.0 / 1024.0;

/// The Node.js 20 peer measured side by side in the design brief (§6), doing the same
/// database work as `session-anonymous` (AWS SDK v3, `pg`, `jsonwebtoken`): first response
/// ~177 ms, RSS ~136 MB, warm p50 ~1.8 ms against Rust's 0.37 ms. Its extra warm time per
/// request is taken as that difference; its memory as 256 MB, the smallest common size that
/// holds 136 MB with headroom (Lambda bills the configured size).
const NODE_INIT_MS: f64 = 177.0;
const NODE_EXTRA_WARM_MS: f64 = 1.8 - 0.37;
const NODE_MEMORY_GB: f64 = 256.0 / 1024.0;
/// Share of invocations that start a new instance. AWS reports cold starts in under 1 % of
/// production invocations; the init phase is billed (since August 2025, for every runtime).
const COLD_SHARE: f64 = 0.01;

/// One flow's measured inputs.
struct Flow {
    name: &'static str,
    share: f64,
    /// Handler duration: mean latency at concurrency 1 through the gateway (an upper bound:
    /// it includes the loopback HTTP hop Lambda does not bill).
    duration_ms: f64,
    /// Time a request holds a database connection inside a transaction.
    connection_ms: f64,
    /// PostgreSQL CPU per request.
    db_cpu_ms: f64,
    dynamodb_writes: f64,
    dynamodb_reads: f64,
    kms: f64,
}

fn flows(rows: &[Row]) -> Vec<Flow> {
    MIX.iter()
        .filter_map(|&(name, share)| {
            let at = |c: usize| rows.iter().find(|r| r.flow == name && r.concurrency == c);
            let one = at(1)?;
            let calls = |pred: &dyn Fn(&str) -> bool| -> f64 {
                // (+ 0.0: an empty f64 sum is -0.0, which would print as "-0.00")
                one.aws_calls.iter().filter(|(op, _)| pred(op)).map(|(_, n)| n).sum::<f64>() + 0.0
            };
            Some(Flow {
                name,
                share,
                duration_ms: one.mean_latency().as_secs_f64() * 1000.0,
                connection_ms: one.connection_ms(),
                db_cpu_ms: one.db_cpu_ms_per_request(),
                dynamodb_writes: calls(&|op| {
                    op.starts_with("DynamoDB_")
                        && ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]
                            .iter()
                            .any(|w| op.ends_with(w))
                }),
                dynamodb_reads: calls(&|op| {
                    op.starts_with("DynamoDB_") && ["GetItem", "Query", "Scan"].iter().any(|w| op.ends_with(w))
                }),
                kms: calls(&|op| op.starts_with("TrentService.")),
            })
        })
        .collect()
}

fn weighted(flows: &[Flow], f: impl Fn(&Flow) -> f64) -> f64 {
    flows.iter().map(|x| x.share * f(x)).sum()
}

/// Lambda's cost per million requests for a runtime with this warm duration per flow,
/// memory and init time.
fn lambda_per_million(flows: &[Flow], extra_ms: f64, memory_gb: f64, init_ms: f64) -> f64 {
    let billed_ms = weighted(flows, |f| (f.duration_ms + extra_ms).ceil()) + COLD_SHARE * init_ms;
    LAMBDA_PER_MILLION + 1e6 * billed_ms / 1000.0 * memory_gb * LAMBDA_ARM_GB_SECOND
}

/// The markdown block: inputs, then capacity and cost at each rate.
pub fn markdown(rows: &[Row], rust_first_response: Duration) -> String {
    let flows = flows(rows);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Computed by `make bench` from its end-to-end run (`tools/bench/src/cost.rs`) — do not edit by hand.\n"
    );
    let _ = writeln!(s, "**Measured inputs** (per request, this machine; the mix is an assumption):\n");
    let _ = writeln!(
        s,
        "| flow | share of traffic | duration | connection held in a transaction | PostgreSQL CPU | DynamoDB writes | DynamoDB reads | KMS calls |\n|---|---|---|---|---|---|---|---|"
    );
    for f in &flows {
        let _ = writeln!(
            s,
            "| {} | {:.0} % | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.2} |",
            f.name,
            f.share * 100.0,
            f.duration_ms,
            f.connection_ms,
            f.db_cpu_ms,
            f.dynamodb_writes,
            f.dynamodb_reads,
            f.kms
        );
    }
    let _ = writeln!(
        s,
        "| **mix** | 100 % | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.2} |\n",
        weighted(&flows, |f| f.duration_ms),
        weighted(&flows, |f| f.connection_ms),
        weighted(&flows, |f| f.db_cpu_ms),
        weighted(&flows, |f| f.dynamodb_writes),
        weighted(&flows, |f| f.dynamodb_reads),
        weighted(&flows, |f| f.kms),
    );
    let _ = writeln!(
        s,
        "All from the run at concurrency 1, where nothing waits for this machine's two cores — as each Lambda \
         instance has its own. Duration is the mean latency through the local gateway; connection time is the \
         mean number of application connections inside a transaction divided by the throughput (Little's law); \
         PostgreSQL CPU is the server processes' CPU time over the run per request; AWS calls are moto's counts. \
         Here every dependency is on loopback and DynamoDB is moto (one request at a time), so durations are those \
         of this machine; in AWS each network round trip adds about a millisecond to both runtimes alike.\n"
    );

    let _ = writeln!(s, "**Capacity** (Little's law on the measured times):\n");
    let _ = writeln!(
        s,
        "| requests/s | Lambda concurrency (Rust) | Lambda concurrency (Node.js) | connections in a transaction | Aurora capacity | DynamoDB WRU/s | KMS calls/s |\n|---|---|---|---|---|---|---|"
    );
    let mix_duration = weighted(&flows, |f| f.duration_ms);
    for rate in RATES {
        let busy = rate * weighted(&flows, |f| f.connection_ms) / 1000.0;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.1} | {:.1} ACU | {:.0} | {:.0} |",
            thousands(rate),
            (rate * mix_duration / 1000.0).ceil(),
            (rate * (mix_duration + NODE_EXTRA_WARM_MS) / 1000.0).ceil(),
            busy,
            acus(rate, &flows),
            rate * weighted(&flows, |f| f.dynamodb_writes),
            rate * weighted(&flows, |f| f.kms),
        );
    }
    let _ = writeln!(
        s,
        "\nLambda concurrency is rate × duration (cold starts aside). Connections in a transaction are what RDS \
         Proxy must hold against Aurora at once; the client side holds one connection per warm instance (a pool \
         opens one connection as the instance starts, and an instance serves one request at a time). Aurora capacity is the PostgreSQL CPU \
         the rate needs at {:.0} % utilisation, at {VCPU_PER_ACU} vCPU per ACU (at least {AURORA_MIN_ACU} ACU). \
         Today's prod stage is capped below these rates on purpose (`ApiConcurrency`, the API throttle and the data \
         stack's `MaxCapacity`); serving them means raising all three together, as the connection budget above says.\n",
        TARGET_CPU * 100.0
    );

    let _ = writeln!(s, "**Cost per million requests** (arm64, us-east-1 list prices):\n");
    let _ = writeln!(s, "| part | Rust (this code) | Node.js peer |\n|---|---|---|");
    let rust = lambda_per_million(&flows, 0.0, RUST_MEMORY_GB, rust_first_response.as_secs_f64() * 1000.0);
    let node = lambda_per_million(&flows, NODE_EXTRA_WARM_MS, NODE_MEMORY_GB, NODE_INIT_MS);
    let shared_parts = [
        ("API Gateway (HTTP API)", HTTP_API_PER_MILLION),
        (
            "DynamoDB (on-demand)",
            weighted(&flows, |f| f.dynamodb_writes) * DYNAMODB_WRITE_PER_MILLION
                + weighted(&flows, |f| f.dynamodb_reads) * DYNAMODB_READ_PER_MILLION,
        ),
        ("KMS", weighted(&flows, |f| f.kms) * KMS_PER_MILLION),
    ];
    let _ = writeln!(s, "| Lambda (requests, duration, 1 % cold starts) | ${rust:.3} | ${node:.3} |");
    let mut shared_total = 0.0;
    for (part, cost) in shared_parts {
        shared_total += cost;
        let _ = writeln!(s, "| {part} | ${cost:.3} | ${cost:.3} |");
    }
    for rate in RATES {
        let hours = 1e6 / rate / 3600.0;
        let acu = acus(rate, &flows);
        let db = hours * (acu * AURORA_ACU_HOUR + acu.max(PROXY_MIN_ACU) * PROXY_ACU_HOUR);
        let _ = writeln!(s, "| Aurora + RDS Proxy at {} requests/s | ${db:.3} | ${db:.3} |", thousands(rate));
        let _ = writeln!(
            s,
            "| **total at {} requests/s** | **${:.3}** | **${:.3}** |",
            thousands(rate),
            rust + shared_total + db,
            node + shared_total + db
        );
    }
    let _ = writeln!(
        s,
        "\nRust's Lambda line uses this run's durations at 128 MB and its median first response ({:.1} ms) as init; \
         the Node.js line adds the peer's measured extra {NODE_EXTRA_WARM_MS:.2} ms per request, bills 256 MB and a \
         {NODE_INIT_MS:.0} ms init (design brief §6). Lambda bills whole milliseconds, so a sub-millisecond handler \
         costs a full one. Storage, data transfer, logs and Stripe's and Twilio's own fees are left out: they are \
         the same for both runtimes.",
        rust_first_response.as_secs_f64() * 1000.0
    );
    s
}

fn acus(rate: f64, flows: &[Flow]) -> f64 {
    let vcpu = rate * weighted(flows, |f| f.db_cpu_ms) / 1000.0;
    (vcpu / TARGET_CPU / VCPU_PER_ACU).max(AURORA_MIN_ACU)
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    if n >= 1000 { format!("{} {:03}", n / 1000, n % 1000) } else { n.to_string() }
}

/// `doc` with the text between its cost markers replaced by `block`.
pub fn replace_block(doc: &str, block: &str) -> Result<String, String> {
    const BEGIN: &str = "<!-- cost:begin (make bench) -->";
    const END: &str = "<!-- cost:end -->";
    let start = doc.find(BEGIN).ok_or("docs/scaling.md has no cost:begin marker")? + BEGIN.len();
    let end = doc[start..].find(END).ok_or("docs/scaling.md has no cost:end marker")? + start;
    Ok(format!("{}\n{}{}", &doc[..start], block, &doc[end..]))
}
