//! `parley-bench`: the performance budget of the design brief (§6), measured.
//!
//! For each benchmarked function it starts the **release** binary exactly as Lambda would —
//! environment, then the Runtime API — against a local implementation of the Lambda Runtime
//! API (`/2018-06-01/runtime/invocation/next` and `…/response`), and measures:
//! - init: process start → the runtime's first `next` call (state built, no network);
//! - first response: process start → first response posted, the database connect included
//!   (it starts in the background at init; what remains of it is waited for here);
//! - both as the median of several starts ([`COLD_STARTS`], [`Starts`]);
//! - warm latency: event released → response posted, over many invocations (p50, p99);
//! - the same SQL replayed directly with tokio-postgres, for the database endpoints;
//! - peak RSS (VmHWM) after the run and RSS part-way, to show it stays flat.
//!
//! Then every function (`every`): started the same way and driven with its own sample
//! event, for the cold-start and memory table.
//!
//! Run it with `make bench` (which starts its own stack, builds the release binaries and
//! measures their zipped sizes); it prints `docs/performance.md` whole — no number in that
//! file is typed by hand. Timings here are of this machine, not of Lambda.

mod cost;
mod e2e;
mod every;
mod floors;
mod growth;
mod replay;
mod report;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// The local Runtime API: hands out queued events, reports when responses arrive.
struct RuntimeApi {
    /// Each event already serialised, as Lambda holds an invocation's payload.
    events: Mutex<mpsc::Receiver<(Bytes, oneshot::Sender<Answer>)>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_next: Mutex<Option<Instant>>,
    /// Notified when the function first asks for an event (its init is over).
    asked: tokio::sync::Notify,
}

impl RuntimeApi {
    fn new(events: mpsc::Receiver<(Bytes, oneshot::Sender<Answer>)>) -> Arc<Self> {
        Arc::new(RuntimeApi {
            events: Mutex::new(events),
            pending: Mutex::default(),
            first_next: Mutex::default(),
            asked: tokio::sync::Notify::new(),
        })
    }
}

async fn serve_runtime(api: Arc<RuntimeApi>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let api = api.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(runtime_route(api, req).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

async fn runtime_route(
    api: Arc<RuntimeApi>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        api.first_next.lock().await.get_or_insert_with(Instant::now);
        api.asked.notify_one();
        let Some((event, done)) = api.events.lock().await.recv().await else {
            return hyper::Response::builder().status(500).body(Full::default()).expect("static");
        };
        let id = Uuid::now_v7().to_string();
        api.pending.lock().await.insert(id.clone(), done);
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:eu-west-1:000000000000:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
            .body(Full::new(event))
            .expect("static");
    }
    let arrived = Instant::now();
    let id = path.split('/').nth(4).unwrap_or_default().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let outcome = outcome(&path, &body);
    if let Some(done) = api.pending.lock().await.remove(&id) {
        let _ = done.send(Answer { arrived, outcome });
    }
    hyper::Response::builder().status(202).body(Full::default()).expect("static")
}

/// What the function answered an invocation: when, and its outcome (see [`outcome`]).
struct Answer {
    arrived: Instant,
    outcome: String,
}

/// An answer in a word: its HTTP status (`"201"`, `"409"`), `"ok"` for a function that is
/// not behind HTTP, or `"error"` when the function reported one. A timing is only the
/// endpoint's if the outcome is the one expected.
fn outcome(path: &str, body: &[u8]) -> String {
    if path.ends_with("/error") {
        return "error".to_owned();
    }
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    match answer.as_ref().and_then(|a| a.get("statusCode")).and_then(Value::as_u64) {
        Some(status) => status.to_string(),
        None => "ok".to_owned(),
    }
}

/// An API Gateway v2 event.
fn event(method: &str, path: &str, route: &str, headers: Value, body: Option<Value>, params: Option<Value>) -> Value {
    let mut e = json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "000000000000", "apiId": "bench", "domainName": "bench", "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": Uuid::now_v7().to_string(), "routeKey": route, "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": false,
    });
    if let Some(b) = body {
        e["body"] = json!(b.to_string());
    }
    if let Some(p) = params {
        e["pathParameters"] = p;
    }
    e
}

struct Measured {
    name: String,
    init: Duration,
    /// Each start's first response (process start → its answer), fastest first: one, or
    /// [`COLD_STARTS`] where the event's work repeats ([`Starts`]).
    first_responses: Vec<Duration>,
    warm: Vec<Duration>,
    direct: Vec<Duration>,
    rss_early_kb: u64,
    rss_late_kb: u64,
    peak_kb: u64,
    /// The function's own CPU time (user and system) per warm invocation: the rest of a warm
    /// invocation is waiting (on PostgreSQL, another service, the Runtime API, a wake-up).
    cpu: Duration,
    /// What the floor leaves out, or why there is none.
    note: String,
    /// In the floor run: how long PostgreSQL had the function's SQL to answer in its first
    /// invocation (a new backend's first statements) and in its second ([`replay::Recorder::lap`]).
    db_first_and_next: Option<(Duration, Duration)>,
    /// How many invocations ended in each outcome ([`outcome`]).
    outcomes: std::collections::BTreeMap<String, usize>,
}

impl Measured {
    /// The first response the tables and the budget show: the median of the starts'.
    fn first_response(&self) -> Duration {
        percentile(&self.first_responses, 0.5)
    }

    /// The outcomes other than success (2xx, or `ok` for a function not behind HTTP).
    fn failures(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .filter(|(o, _)| !(o.starts_with('2') || o.as_str() == "ok"))
            .map(|(o, n)| format!("{o} ×{n}"))
            .collect()
    }

    /// The outcomes, as the report shows them: `201 ×101`.
    fn outcomes_text(&self) -> String {
        self.outcomes.iter().map(|(o, n)| format!("{o} ×{n}")).collect::<Vec<_>>().join(", ")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The time `pid` has spent on a CPU so far (`/proc/<pid>/schedstat`, in nanoseconds).
fn on_cpu(pid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse().ok()))
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run with `make bench`"))
}

/// Runs `binary` for `invocations` events from `make_event`.
async fn run_function(
    name: &str,
    bin_dir: &std::path::Path,
    invocations: usize,
    starts: Starts,
    make_event: &(dyn Fn(usize) -> Value + Sync),
) -> Measured {
    run_function_with(name, bin_dir, invocations, &[], starts, make_event).await
}

/// A child process killed (and reaped) when dropped: a function under test, or the gateway.
/// `std::process` rather than `tokio::process`, so the bench asks nothing of tokio that the
/// functions do not, and its release build shares every dependency build with theirs.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How many times each function is started: its init is the median of these starts, and so is
/// its first response ([`Starts::Repeat`]).
pub const COLD_STARTS: usize = 5;

/// What a function's starts after the first do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Starts {
    /// Each answers one more event from the run's `make_event`, which does the same work as
    /// the first (the run's later invocations repeat it too): the first response is their median.
    Repeat,
    /// None: the run is itself the measurement (a job over seeded data, timed from its own
    /// init to its answer) or only prepares for one (a job's warm-up run).
    Once,
}

/// Starts `binary` as Lambda does: its environment, then the Runtime API at `addr`. Returns
/// the child and when it was started.
///
/// The binary's file is read first, so its pages are in memory as a package just extracted
/// for init is. This machine's kernel reclaims page cache it has not used for a while, and a
/// binary read from disk made init 15 ms longer on its first start.
fn start(binary: &std::path::Path, name: &str, addr: SocketAddr, env: &[(&str, String)]) -> (KillOnDrop, Instant) {
    if let Ok(mut file) = std::fs::File::open(binary) {
        let _ = std::io::copy(&mut file, &mut std::io::sink());
    }
    let started = Instant::now();
    let child = std::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("PARLEY_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    (KillOnDrop(child), started)
}

/// One more start of `binary`: its init, and given an `event`, its first response and answer.
/// It is stopped once it has answered, or, without an event, when it first asks for one.
async fn cold_start(
    binary: &std::path::Path,
    name: &str,
    env: &[(&str, String)],
    event: Option<Bytes>,
) -> (Duration, Option<(Duration, String)>) {
    // The sender stays alive, so without an event the function's `next` waits, not fails.
    let (events, rx) = mpsc::channel(1);
    let api = RuntimeApi::new(rx);
    let addr = serve_runtime(api.clone()).await;
    let (child, started) = start(binary, name, addr, env);
    let first = match event {
        Some(event) => {
            let (done_tx, done_rx) = oneshot::channel();
            events.send((event, done_tx)).await.expect("runtime API alive");
            let answer = tokio::time::timeout(Duration::from_secs(30), done_rx)
                .await
                .expect("a response in 30 s")
                .expect("sent");
            Some((answer.arrived - started, answer.outcome))
        }
        None => {
            tokio::time::timeout(Duration::from_secs(30), api.asked.notified())
                .await
                .unwrap_or_else(|_| panic!("{name} did not ask for an event within 30 s"));
            None
        }
    };
    let init = api.first_next.lock().await.map(|t| t - started).unwrap_or_default();
    drop(child);
    (init, first)
}

/// [`run_function`] with environment variables set for the function.
async fn run_function_with(
    name: &str,
    bin_dir: &std::path::Path,
    invocations: usize,
    env: &[(&str, String)],
    starts: Starts,
    make_event: &(dyn Fn(usize) -> Value + Sync),
) -> Measured {
    let (tx, rx) = mpsc::channel(1);
    let api = RuntimeApi::new(rx);
    let addr = serve_runtime(api.clone()).await;
    let binary = bin_dir.join(name);
    let (child, started) = start(&binary, name, addr, env);
    let pid = child.0.id();
    let mut warm = Vec::with_capacity(invocations);
    let mut first_response = Duration::ZERO;
    let mut rss_early_kb = 0;
    let mut cpu_after_first = Duration::ZERO;
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..=invocations {
        // The event is made and serialised before the clock starts: that is the bench's
        // work, not the function's.
        let event = Bytes::from(make_event(i).to_string());
        let (done_tx, done_rx) = oneshot::channel();
        let released = Instant::now();
        tx.send((event, done_tx)).await.expect("runtime API alive");
        let answer =
            tokio::time::timeout(Duration::from_secs(30), done_rx).await.expect("a response in 30 s").expect("sent");
        let arrived = answer.arrived;
        *outcomes.entry(answer.outcome).or_insert(0) += 1;
        if i == 0 {
            first_response = arrived - started;
            cpu_after_first = on_cpu(pid);
        } else {
            warm.push(arrived - released);
        }
        if i == 100 {
            rss_early_kb = proc_status_kb(pid, "VmRSS:");
        }
    }
    let first_init = api.first_next.lock().await.map(|t| t - started).unwrap_or_default();
    let rss_late_kb = proc_status_kb(pid, "VmRSS:");
    let peak_kb = proc_status_kb(pid, "VmHWM:");
    let cpu = on_cpu(pid).saturating_sub(cpu_after_first) / invocations.max(1) as u32;
    drop(child);
    warm.sort();
    // Init is the median of COLD_STARTS starts, and so is the first response where the event's
    // work repeats: one start is at the mercy of whatever else this shared machine did in
    // those milliseconds. The later starts' events come after the run's.
    let mut inits = vec![first_init];
    let mut first_responses = vec![first_response];
    let later_starts = if starts == Starts::Once { 0 } else { COLD_STARTS - 1 };
    for k in 1..=later_starts {
        let event = (starts == Starts::Repeat).then(|| Bytes::from(make_event(invocations + k).to_string()));
        let (init, first) = cold_start(&binary, name, env, event).await;
        inits.push(init);
        if let Some((first, outcome)) = first {
            first_responses.push(first);
            *outcomes.entry(outcome).or_insert(0) += 1;
        }
    }
    inits.sort();
    first_responses.sort();
    Measured {
        name: name.to_owned(),
        init: percentile(&inits, 0.5),
        first_responses,
        warm,
        direct: Vec::new(),
        rss_early_kb,
        rss_late_kb,
        peak_kb,
        cpu,
        note: String::new(),
        db_first_and_next: None,
        outcomes,
    }
}

/// Times `round` (the handler's SQL, replayed directly) `n` times on one connection.
async fn replay<F, Fut>(n: usize, round: F) -> Vec<Duration>
where
    F: Fn(Arc<tokio_postgres::Client>, usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (client, conn) =
        tokio_postgres::connect(&setting("DATABASE_URL"), tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(conn);
    let client = Arc::new(client);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        round(client.clone(), i).await;
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let started = std::time::Instant::now();
    let invocations: usize =
        std::env::var("PARLEY_BENCH_INVOCATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let bin_dir = PathBuf::from(std::env::var("PARLEY_BENCH_BIN_DIR").unwrap_or_else(|_| "target/release".into()));
    let root = PathBuf::from(std::env::var("PARLEY_ROOT").unwrap_or_else(|_| ".".into()));
    let floors_on = std::env::var("PARLEY_BENCH_FLOORS").as_deref() != Ok("0");
    let e2e_on = std::env::var("PARLEY_BENCH_E2E").as_deref() != Ok("0");
    // One release gateway serves both the floors' preparation and the end-to-end runs.
    let gateway = if floors_on || e2e_on { Some(e2e::start_gateway(&bin_dir).await) } else { None };
    let client = gateway.as_ref().map(|g| Arc::new(e2e::Client::new(&g.url)));
    let user = Uuid::now_v7();
    let auth = e2e::Client::headers(user);

    let mut results = Vec::new();

    // session-me: identity only, no database.
    let e = auth.clone();
    results.push(
        run_function("session-me", &bin_dir, invocations, Starts::Repeat, &move |_| {
            event("GET", "/v1/sessions/me", "GET /v1/sessions/me", e.clone(), None, None)
        })
        .await,
    );

    // session-anonymous: the per-address limiter (one DynamoDB UpdateItem), then one INSERT
    // in one round trip. Its floor replays both, in the same order; the two parts are also
    // timed alone, to show where the time goes.
    let mut m = run_function("session-anonymous", &bin_dir, invocations, Starts::Repeat, &|_| {
        event("POST", "/v1/sessions/anonymous", "POST /v1/sessions/anonymous", json!({}), None, None)
    })
    .await;
    let aws = shared::platform::aws::load().await;
    let limiter = Arc::new(shared::platform::ratelimit::RateLimiter::new(
        shared::platform::aws::dynamodb(&aws),
        setting("PARLEY_TABLE_NAME"),
        shared::platform::ratelimit::FailMode::Closed,
    ));
    let limit = shared::platform::ratelimit::Limit { max: 100_000_000, window: Duration::from_secs(60) };
    let insert = |c: Arc<tokio_postgres::Client>| async move {
        let id = Uuid::now_v7();
        let begin = format!(
            "BEGIN; SELECT set_config('statement_timeout', '5000', true), set_config('app.user_id', '', true), set_config('app.anonymous_session_id', '{id}', true)"
        );
        let now = chrono::Utc::now();
        let exp = now + chrono::Duration::hours(24);
        use tokio_postgres::types::{ToSql, Type};
        let params: [(&(dyn ToSql + Sync), Type); 3] =
            [(&id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&exp, Type::TIMESTAMPTZ)];
        let (a, b, d) = tokio::join!(
            c.batch_execute(&begin),
            c.query_typed("INSERT INTO anonymous_sessions (id, created_at, expires_at) VALUES ($1, $2, $3)", &params),
            c.batch_execute("COMMIT")
        );
        a.and(b.map(|_| ())).and(d).expect("replayed insert");
    };
    let check = |l: Arc<shared::platform::ratelimit::RateLimiter>| async move {
        l.check("session-anonymous", "addr:127.0.0.1", limit).await.expect("the limiter answers");
    };
    m.direct = replay(invocations, |c, _| {
        let l = limiter.clone();
        async move {
            check(l).await;
            insert(c).await;
        }
    })
    .await;
    let sql_alone = replay(invocations, |c, _| insert(c)).await;
    let dynamodb_alone = replay(invocations, |_, _| check(limiter.clone())).await;
    let mut breakdown = vec![
        growth::Line {
            what: "session-anonymous, where the time goes: its INSERT alone (floor without the limiter)".into(),
            result: format!("p50 {}, p99 {}", ms(percentile(&sql_alone, 0.5)), ms(percentile(&sql_alone, 0.99))),
        },
        growth::Line {
            what: "session-anonymous, where the time goes: its DynamoDB limiter call alone (moto here)".into(),
            result: format!(
                "p50 {}, p99 {}",
                ms(percentile(&dynamodb_alone, 0.5)),
                ms(percentile(&dynamodb_alone, 0.99))
            ),
        },
    ];
    results.push(m);

    // Every other database endpoint: its SQL recorded from the function and replayed
    // (chat-history among them).
    if let Some(client) = client.as_ref().filter(|_| floors_on) {
        results.extend(floors::run(&bin_dir, &root, invocations, client).await);
    }

    // Every function, with its own sample event.
    let every_n: usize =
        std::env::var("PARLEY_BENCH_EVERY_INVOCATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut every = Vec::new();
    for name in every::functions(&root) {
        let sample = every::sample(&root, &name);
        eprintln!("bench: {name} ({})", sample.file);
        if sample.is_job() {
            // A job is measured as its next scheduled run: one run first, not timed, does
            // what the sections before left for it (the messages the floor runs wrote, for
            // verify-chains), so its first response is a cold start, not that backlog. The
            // backlog's cost is the growth section's.
            run_function(&name, &bin_dir, 0, Starts::Once, &|i| sample.event(i)).await;
        }
        let m = run_function(&name, &bin_dir, every_n, Starts::Repeat, &|i| sample.event(i)).await;
        every.push((m, sample));
    }

    if std::env::var("PARLEY_BENCH_GROWTH").as_deref() != Ok("0") {
        breakdown.extend(growth::run(&bin_dir).await);
    }
    let growth = breakdown;

    // End to end through the gateway, and the cost model of docs/scaling.md from it.
    let e2e = if let Some(client) = client.as_ref().filter(|_| e2e_on) {
        let rows = e2e::run(client).await;
        let mut firsts: Vec<Duration> = every.iter().map(|(m, _)| m.first_response()).collect();
        firsts.sort();
        let block = cost::markdown(&rows, percentile(&firsts, 0.5));
        let path = root.join("docs/scaling.md");
        let doc = std::fs::read_to_string(&path).expect("docs/scaling.md");
        std::fs::write(&path, cost::replace_block(&doc, &block).expect("cost markers")).expect("write docs/scaling.md");
        eprintln!("bench: wrote the cost model into docs/scaling.md");
        rows
    } else {
        Vec::new()
    };

    let sizes = read_sizes();
    let bloat = read_bloat();
    let native_roots = native_roots_load();
    let phone_metadata = first_phone_parse();
    let outside = outside_waits().await;
    report::print(&report::Run {
        measured_in: started.elapsed(),
        native_roots,
        phone_metadata,
        outside,
        arm64_commit: std::env::var("PARLEY_BENCH_ARM64_COMMIT").ok(),
        setup_seconds: std::env::var("PARLEY_BENCH_SETUP_SECONDS").ok().and_then(|v| v.parse().ok()),
        clean: std::env::var("PARLEY_BENCH_CLEAN").as_deref() == Ok("1"),
        bloat: &bloat,
        invocations,
        every_invocations: every_n,
        floor: &results,
        every: &every,
        sizes: &sizes,
        growth: &growth,
        e2e: &e2e,
    });
}

/// What a first response waits on outside the function here (medians): opening a PostgreSQL
/// connection as the functions do (a backend started, SCRAM sign-in), and one call to moto,
/// the local DynamoDB and KMS, through the AWS SDK as the functions call them.
pub struct Outside {
    pub pg_connect: Duration,
    pub dynamodb_call: Duration,
    pub kms_call: Duration,
}

async fn outside_waits() -> Outside {
    async fn median<F: std::future::Future<Output = ()>>(n: usize, mut f: impl FnMut() -> F) -> Duration {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            f().await;
            times.push(started.elapsed());
        }
        times.sort();
        percentile(&times, 0.5)
    }
    let url = setting("PARLEY_DATABASE_URL");
    let pg_connect = median(5, || async {
        // The handshake (startup, SCRAM) completes before `connect` returns.
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("postgres");
        drop((client, connection));
    })
    .await;
    let sdk = shared::platform::aws::load().await;
    let dynamodb = shared::platform::aws::dynamodb(&sdk);
    let table = setting("PARLEY_TABLE_NAME");
    let dynamodb_call = median(10, || async {
        let key = shared::platform::aws::aws_sdk_dynamodb::types::AttributeValue::S("bench#probe".into());
        dynamodb.get_item().table_name(&table).key("pk", key).send().await.expect("DynamoDB GetItem");
    })
    .await;
    let kms = shared::platform::aws::kms(&sdk);
    let key_id = setting("PARLEY_KMS_KEY_ID");
    let kms_call = median(10, || async {
        let plaintext = shared::platform::aws::aws_sdk_kms::primitives::Blob::new([7u8; 32]);
        kms.encrypt().key_id(&key_id).plaintext(plaintext).send().await.expect("KMS Encrypt");
    })
    .await;
    Outside { pg_connect, dynamodb_call, kms_call }
}

/// How long loading the system's root certificates takes here (median of five, and how many
/// there are): what reqwest's platform verifier does once, on an instance's first HTTPS call
/// (JWKS, Twilio, Anthropic). The AWS SDK's clients have their roots compiled in.
fn native_roots_load() -> (Duration, usize) {
    let mut times: Vec<(Duration, usize)> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let loaded = rustls_native_certs::load_native_certs();
            (started.elapsed(), loaded.certs.len())
        })
        .collect();
    times.sort();
    times[2]
}

/// How long this process's first phone number parse takes: libphonenumber's metadata
/// (`phonenumber`) loads and compiles its patterns then, once per instance, inside the first
/// response of the functions that parse what a person typed. Nothing in the bench parses a
/// number before this, so it is that first parse (one measurement: it happens once).
fn first_phone_parse() -> Duration {
    let started = Instant::now();
    let parsed = shared::sms::phone::Phone::parse("+447911123456", Default::default(), "phone");
    assert!(parsed.is_ok(), "a valid UK mobile number parses");
    started.elapsed()
}

/// Zipped sizes from `PARLEY_BENCH_SIZES` (written by `scripts/bench.sh`): per function,
/// the x86_64 release `bootstrap` and the arm64 one built by cargo-lambda, in bytes.
fn read_sizes() -> Vec<(String, u64, Option<u64>)> {
    let Ok(path) = std::env::var("PARLEY_BENCH_SIZES") else { return Vec::new() };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.to_owned();
            let x86 = f.next()?.parse().ok()?;
            let arm = f.next().and_then(|v| v.parse().ok());
            Some((name, x86, arm))
        })
        .collect()
}

/// Per function, the code size of its x86_64 binary and its largest crates by code size,
/// from `PARLEY_BENCH_BLOAT` (written by `scripts/bench.sh` from `nm`).
fn read_bloat() -> Vec<report::Bloat> {
    let Ok(path) = std::env::var("PARLEY_BENCH_BLOAT") else { return Vec::new() };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let function = f.next()?.to_owned();
            let code_bytes = f.next()?.parse().ok()?;
            let crates = f
                .next()?
                .split(',')
                .filter_map(|c| {
                    let (n, s) = c.rsplit_once(':')?;
                    Some((n.to_owned(), s.parse().ok()?))
                })
                .collect();
            Some(report::Bloat { function, code_bytes, crates })
        })
        .collect()
}

/// A conversation with 60 messages for `user`, written through the real append path.
pub(crate) async fn seed_conversation(user: Uuid) -> Uuid {
    let db = shared::platform::db::Database::connect_lazily(&setting("DATABASE_URL"), 1).expect("pool");
    let caller = shared::platform::identity::Caller::user(user);
    let sender = shared::chat::chain::Sender::User(user);
    let mut id = None;
    for i in 0..60 {
        let tx = db.begin(&caller).await.expect("begin");
        let msg = shared::chat::NewMessage {
            role: "user",
            sender,
            content: &format!("message {i}"),
            ui_elements: json!([]),
            tone: None,
        };
        let m = shared::chat::append(&tx, id, sender, &msg, shared::chat::Limit { max_messages: 1000, room: 1 })
            .await
            .expect("append");
        tx.commit().await.expect("commit");
        id = Some(m.conversation_id);
    }
    id.expect("seeded")
}
