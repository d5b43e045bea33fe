//! End to end through the local gateway, at concurrency 1, 8 and 32: chat message, cart
//! add, wallet sign, checkout (card) and the Stripe webhook.
//!
//! The gateway is the release `parley-local serve` — every HTTP handler in one process, as
//! `make up` runs them — reached over real HTTP. Each flow's preparation (users, quotes,
//! carts, wallets, paid Checkout Sessions) is done first and not timed; then the same number
//! of requests is sent at each concurrency and timed one by one.
//!
//! While a flow runs, PostgreSQL's `pg_stat_activity` is sampled for the application roles'
//! connections inside a transaction (what RDS Proxy cannot share with another client). Their
//! mean over the run divided by the throughput is the connection time a request holds
//! (Little's law) — the input of the connection arithmetic in `docs/scaling.md`, whose bound
//! (never more connections in a transaction than requests in flight) is checked at each
//! concurrency. The server's CPU time per request sizes Aurora, and moto counts the AWS
//! calls each flow makes (`scripts/moto_serial.py`), for the cost model.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{percentile, setting};

/// Requests per flow and concurrency.
const REQUESTS: usize = 240;
pub const CONCURRENCY: [usize; 3] = [1, 8, 32];
/// One gateway stands in for many Lambda instances: each function's pool gets as many
/// connections as the highest concurrency, so the pool never queues a request that 32
/// instances (one connection each while in a transaction) would not.
const GATEWAY_POOL: usize = 32;

pub struct Row {
    pub flow: &'static str,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// Highest number inside a transaction at once.
    pub peak_busy: i64,
    /// Mean number inside a transaction over the run.
    pub mean_busy: f64,
    /// AWS calls per request, by operation (moto's counts over the run).
    pub aws_calls: BTreeMap<String, f64>,
    /// CPU time of the PostgreSQL server's processes over the run.
    pub db_cpu: Duration,
}

impl Row {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Connection time per request in a transaction (Little's law: busy = rate × time).
    pub fn connection_ms(&self) -> f64 {
        self.mean_busy / self.throughput() * 1000.0
    }

    pub fn db_cpu_ms_per_request(&self) -> f64 {
        self.db_cpu.as_secs_f64() * 1000.0 / self.requests as f64
    }

    pub fn mean_latency(&self) -> Duration {
        self.latencies.iter().sum::<Duration>() / self.latencies.len().max(1) as u32
    }
}

pub struct Gateway {
    pub url: String,
    _child: crate::KillOnDrop,
}

pub async fn start_gateway(bin_dir: &Path) -> Gateway {
    let dir = std::env::temp_dir().join(format!("parley-bench-gateway-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port_file = dir.join("port");
    let child = std::process::Command::new(bin_dir.join("parley-local"))
        .args(["serve", "--addr", "127.0.0.1:0", "--port-file"])
        .arg(&port_file)
        .env("PARLEY_LOG", "warn")
        .env("PARLEY_DB_POOL_SIZE", GATEWAY_POOL.to_string())
        .env("PARLEY_SIGN_RATE_LIMIT", "100000000/60s")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(crate::KillOnDrop)
        .expect("the release parley-local starts (built by scripts/bench.sh)");
    for _ in 0..300 {
        if let Ok(port) = std::fs::read_to_string(&port_file)
            && !port.trim().is_empty()
        {
            return Gateway { url: format!("http://127.0.0.1:{}", port.trim()), _child: child };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not announce its port in 30 s");
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
}

impl Client {
    /// A client of the gateway at `url`, with room for the highest concurrency's connections.
    pub fn new(url: &str) -> Client {
        Client {
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client"),
            url: url.to_owned(),
        }
    }

    /// The headers of a JSON request by `user`, as an API Gateway event carries them.
    pub fn headers(user: Uuid) -> Value {
        json!({"authorization": format!("Bearer {}", Self::token(user)), "content-type": "application/json"})
    }
    pub fn token(user: Uuid) -> String {
        shared::platform::identity::mint_user_token(
            setting("PARLEY_JWT_SECRET").as_bytes(),
            &setting("PARLEY_JWT_ISSUER"),
            &setting("PARLEY_JWT_AUDIENCE"),
            user,
            Duration::from_secs(3600),
        )
    }

    /// POST `body` to `path` as `user` (or with `headers` when no user); (status, body).
    pub async fn post(&self, path: &str, user: Option<Uuid>, headers: &[(&str, String)], body: String) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.url)).header("content-type", "application/json");
        if let Some(u) = user {
            req = req.bearer_auth(Self::token(u));
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.body(body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    pub async fn must(&self, path: &str, user: Uuid, body: Value) -> Value {
        let (status, reply) = self.post(path, Some(user), &[], body.to_string()).await;
        assert!((200..300).contains(&status), "preparing the run: POST {path} answered {status}: {reply}");
        reply
    }

    pub async fn quote(&self, user: Uuid) -> String {
        let departure = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive().to_string();
        let body = json!({"product_id": "PROD_DELAY_60",
            "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK", "departure_date": departure}});
        self.must("/v1/quotes", user, body).await["quote_id"].as_str().expect("quote_id").to_owned()
    }

    pub async fn user_with_cart(&self) -> Uuid {
        let user = Uuid::now_v7();
        let quote = self.quote(user).await;
        self.must("/v1/cart/items", user, json!({"quote_id": quote})).await;
        user
    }
}

/// Runs `jobs` at `concurrency`, each timed on its own; a job answers whether it succeeded.
async fn drive<J, F, Fut>(flow: &'static str, concurrency: usize, jobs: Vec<J>, run: F) -> Row
where
    F: Fn(J) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let sampler = Sampler::start().await;
    let aws_before = aws_calls().await;
    let requests = jobs.len();
    let started = Instant::now();
    let outcomes: Vec<(Duration, bool)> = futures::stream::iter(jobs)
        .map(|job| {
            let f = run(job);
            async move {
                let t = Instant::now();
                let ok = f.await;
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let (peak_busy, mean_busy, db_cpu) = sampler.stop().await;
    let aws_after = aws_calls().await;
    let aws_calls = aws_after
        .iter()
        .map(|(op, n)| (op.clone(), (n - aws_before.get(op).copied().unwrap_or(0)) as f64 / requests as f64))
        .filter(|(_, per)| *per > 0.0)
        .collect();
    let errors = outcomes.iter().filter(|(_, ok)| !ok).count();
    let mut latencies: Vec<Duration> = outcomes.into_iter().map(|(d, _)| d).collect();
    latencies.sort();
    let row = Row { flow, concurrency, requests, errors, elapsed, latencies, peak_busy, mean_busy, aws_calls, db_cpu };
    eprintln!(
        "bench: e2e {flow} at {concurrency}: {:.0} req/s, p50 {:.2} ms, {errors} errors, {:.2} connection-ms/request",
        row.throughput(),
        percentile(&row.latencies, 0.5).as_secs_f64() * 1000.0,
        row.connection_ms()
    );
    row
}

/// moto's call counts by operation (`scripts/moto_serial.py`).
async fn aws_calls() -> BTreeMap<String, u64> {
    let url = format!("{}/_parley/calls", setting("AWS_ENDPOINT_URL"));
    match reqwest::get(&url).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

/// Samples the application roles' connections every few milliseconds, and measures the
/// PostgreSQL server's CPU time over the run.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(i64, f64, Duration)>,
}

/// `(pid, ppid, utime + stime, cutime + cstime)` of every process, from `/proc/<pid>/stat`.
fn processes() -> Vec<(u32, u32, u64, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command (which may hold spaces) start after the last ')'.
            let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            Some((pid, field(1) as u32, field(11) + field(12), field(13) + field(14)))
        })
        .collect()
}

/// CPU time of the server whose postmaster is `postmaster`: its own and its children's,
/// live and exited, leaving out the sampler's own backend (`sampler`). Linux counts in
/// USER_HZ ticks, 100 per second.
fn server_cpu(postmaster: u32, sampler: u32) -> Duration {
    let ticks: u64 = processes()
        .into_iter()
        .map(|(pid, ppid, own, waited)| match () {
            _ if pid == postmaster => own + waited,
            _ if ppid == postmaster && pid != sampler => own,
            _ => 0,
        })
        .sum();
    Duration::from_millis(ticks * 10)
}

impl Sampler {
    async fn start() -> Sampler {
        let (client, conn) = tokio_postgres::connect(&setting("PARLEY_MIGRATE_DATABASE_URL"), tokio_postgres::NoTls)
            .await
            .expect("superuser connection for pg_stat_activity");
        tokio::spawn(conn);
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.expect("backend pid").get(0);
        let backend = backend as u32;
        let postmaster = processes().into_iter().find(|p| p.0 == backend).map(|p| p.1).unwrap_or(0);
        let cpu_before = server_cpu(postmaster, backend);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut peak_busy, mut busy_sum, mut samples) = (0i64, 0i64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                let row = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE usename IN ('parley_app', 'parley_service') AND state IN ('active', 'idle in transaction')",
                        &[],
                    )
                    .await
                    .expect("pg_stat_activity");
                let busy: i64 = row.get(0);
                peak_busy = peak_busy.max(busy);
                busy_sum += busy;
                samples += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Read before this connection closes: an exited backend's time moves to the
            // postmaster's count of its children.
            let cpu = server_cpu(postmaster, backend).saturating_sub(cpu_before);
            (peak_busy, busy_sum as f64 / samples.max(1) as f64, cpu)
        });
        Sampler { stop, task }
    }

    async fn stop(self) -> (i64, f64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler")
    }
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Every flow at every concurrency, through the gateway `c` talks to.
pub async fn run(c: &Arc<Client>) -> Vec<Row> {
    let mut rows = Vec::new();

    // Chat message: each in-flight request appends to a conversation of its own (a new one
    // every 20 turns), so the head lock is not what is measured (the growth section is).
    for &n in &CONCURRENCY {
        let conversations = n.max(REQUESTS / 20);
        let mut owners = Vec::new();
        for _ in 0..conversations {
            let user = Uuid::now_v7();
            let first = c.must("/v1/chat/messages", user, json!({"content": "hello"})).await;
            owners.push((user, first["message"]["conversation_id"].as_str().expect("conversation_id").to_owned()));
        }
        let jobs: Vec<(Uuid, String)> = (0..REQUESTS).map(|i| owners[i % conversations].clone()).collect();
        let c = c.clone();
        rows.push(
            drive("chat message", n, jobs, |(user, conversation)| {
                let c = c.clone();
                async move {
                    let body = json!({"content": "Is my flight to New York covered if it is late?", "conversation_id": conversation});
                    ok(c.post("/v1/chat/messages", Some(user), &[], body.to_string()).await.0)
                }
            })
            .await,
        );
    }

    // Cart add: a fresh quote per request (a cart holds 20 items), for one user per job.
    for &n in &CONCURRENCY {
        let mut jobs = Vec::new();
        for _ in 0..REQUESTS {
            let user = Uuid::now_v7();
            jobs.push((user, c.quote(user).await));
        }
        let c = c.clone();
        rows.push(
            drive("cart add", n, jobs, |(user, quote)| {
                let c = c.clone();
                async move { ok(c.post("/v1/cart/items", Some(user), &[], json!({"quote_id": quote}).to_string()).await.0) }
            })
            .await,
        );
    }

    // Wallet sign: one wallet per concurrent signer.
    for &n in &CONCURRENCY {
        let mut signers = Vec::new();
        for _ in 0..n {
            let user = Uuid::now_v7();
            c.must("/v1/wallets", user, json!({})).await;
            signers.push(user);
        }
        let jobs: Vec<(Uuid, usize)> = (0..REQUESTS).map(|i| (signers[i % n], i)).collect();
        let c = c.clone();
        rows.push(
            drive("wallet sign", n, jobs, |(user, i)| {
                let c = c.clone();
                async move {
                    let body = json!({"message": format!("I agree to order {i}")});
                    ok(c.post("/v1/wallets/me/signatures", Some(user), &[], body.to_string()).await.0)
                }
            })
            .await,
        );
    }

    // Checkout by card: a user with one item per request; each opens a Stripe Checkout
    // Session (the local stub). The orders are kept for the webhook run below.
    let mut orders: Vec<String> = Vec::new();
    for &n in &CONCURRENCY {
        let mut jobs = Vec::new();
        for _ in 0..REQUESTS {
            jobs.push(c.user_with_cart().await);
        }
        let placed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c2, p2) = (c.clone(), placed.clone());
        rows.push(
            drive("checkout (card)", n, jobs, |user| {
                let (c, placed) = (c2.clone(), p2.clone());
                async move {
                    let (status, body) =
                        c.post("/v1/checkout", Some(user), &[], json!({"method": "card"}).to_string()).await;
                    if let Some(order) = body["order_id"].as_str() {
                        placed.lock().expect("lock").push(order.to_owned());
                    }
                    ok(status)
                }
            })
            .await,
        );
        orders.extend(std::mem::take(&mut *placed.lock().expect("lock")));
    }

    // The Stripe webhook: each of those sessions paid in the stub, and its
    // `checkout.session.completed` delivered signed — the order becomes PAID.
    let events = paid_session_events(&c.http, &orders).await;
    let mut events = events.into_iter();
    for &n in &CONCURRENCY {
        let jobs: Vec<String> = events.by_ref().take(REQUESTS).collect();
        let c = c.clone();
        rows.push(
            drive("Stripe webhook", n, jobs, |body| {
                let c = c.clone();
                async move {
                    let signature = crate::every::stripe_signature(&body, &setting("STRIPE_WEBHOOK_SECRET"));
                    ok(c.post("/webhooks/stripe", None, &[("stripe-signature", signature)], body).await.0)
                }
            })
            .await,
        );
    }
    rows
}

/// Pays each order's Checkout Session in the Stripe stub; the `checkout.session.completed`
/// events it records, as the bodies Stripe would deliver.
async fn paid_session_events(http: &reqwest::Client, orders: &[String]) -> Vec<String> {
    let (db, conn) = tokio_postgres::connect(&setting("PARLEY_MIGRATE_DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("superuser connection");
    tokio::spawn(conn);
    let stripe = setting("PARLEY_STRIPE_API_BASE");
    let mut out = Vec::new();
    for order in orders {
        let id: Uuid = order.parse().expect("order id");
        let row = db
            .query_one("SELECT stripe_checkout_session_id FROM orders WHERE id = $1", &[&id])
            .await
            .expect("the order exists");
        let session: String = row.get(0);
        let paid: Value = http
            .post(format!("{stripe}/_stub/checkout/sessions/{session}/pay"))
            .send()
            .await
            .expect("the stub answers")
            .json()
            .await
            .expect("events");
        for e in paid["data"].as_array().into_iter().flatten() {
            if e["type"] == "checkout.session.completed" {
                out.push(e.to_string());
            }
        }
    }
    out
}
