//! `docs/performance.md`, written whole from one run: every number below comes from the
//! measurements passed in, and each goal of the design brief (§6) is judged beside them.

use std::time::Duration;

use crate::{Measured, ms, percentile};

/// Where a function's x86_64 code comes from.
pub struct Bloat {
    pub function: String,
    /// Bytes of code (function symbols) in the binary.
    pub code_bytes: u64,
    /// Its largest crates, with their bytes of code.
    pub crates: Vec<(String, u64)>,
}

pub struct Run<'a> {
    /// How long the measurements took (the builds are timed by `scripts/bench.sh`).
    pub measured_in: Duration,
    /// Loading the system's root certificates, as reqwest's platform verifier does on an
    /// instance's first HTTPS call: the median time, and how many.
    pub native_roots: (Duration, usize),
    /// The first phone number parse in a process (libphonenumber's metadata loading).
    pub phone_metadata: Duration,
    /// What a first response waits on outside the function (a connection, emulator calls).
    pub outside: crate::Outside,
    /// The commit of the `make package` build the arm64 sizes came from, when not this run's
    /// (`PARLEY_BENCH_ARM64_FROM`).
    pub arm64_commit: Option<String>,
    /// What `scripts/bench.sh` spent before measuring (builds, venvs, the stack), in seconds.
    pub setup_seconds: Option<f64>,
    /// Whether the run began with no target directory (a clean clone: the 40-minute goal's case).
    pub clean: bool,
    pub invocations: usize,
    pub every_invocations: usize,
    pub floor: &'a [Measured],
    /// Every function's measurement, with the sample it was driven with.
    pub every: &'a [(Measured, crate::every::Sample)],
    /// (function, zipped x86_64 bytes, zipped arm64 bytes when built).
    pub sizes: &'a [(String, u64, Option<u64>)],
    pub bloat: &'a [Bloat],
    pub growth: &'a [crate::growth::Line],
    pub e2e: &'a [crate::e2e::Row],
}

const INIT_GOAL: Duration = Duration::from_millis(10);
const FIRST_GOAL: Duration = Duration::from_millis(25);
const NO_DB_P50_GOAL: Duration = Duration::from_millis(1);
const RSS_GOAL_MB: f64 = 24.0;
const ZIP_GOAL_MB: f64 = 8.0;

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// RSS is flat when it grew by at most a tenth (and 1 MB) between the early and the late reading.
fn flat(m: &Measured) -> bool {
    let (early, late) = (m.rss_early_kb as f64, m.rss_late_kb as f64);
    late <= early * 1.1 || late - early <= 1024.0
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{} × {cores} cores, {}", cpu, std::env::consts::ARCH)
}

pub fn print(run: &Run<'_>) {
    let commit = std::env::var("PARLEY_BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());
    println!("# Performance\n");
    println!(
        "Written by `make bench` (`scripts/bench.sh`, `tools/bench`) — do not edit by hand; run it again.\n\n\
         - commit `{commit}`, {} UTC\n- machine: {}; PostgreSQL, moto and the Stripe and Twilio stubs on loopback\n\
         - release binaries built as they ship (the workspace's release profile: no LTO; symbols kept here for the size breakdown), each started as Lambda starts it — environment, then the Runtime \
         API — against a local Runtime API\n- {} invocations per floor function, {} per function in the table of \
         every function\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine(),
        run.invocations,
        run.every_invocations,
    );
    // scripts/bench.sh: "x86_64_build=<s> arm64_build=<s>", the phases inside the setup time.
    let phases: Vec<String> = std::env::var("PARLEY_BENCH_PHASES")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .filter_map(|(name, secs)| {
            secs.parse::<f64>().ok().map(|s| format!("{} {:.1} min", name.replace('_', " "), s / 60.0))
        })
        .collect();
    println!(
        "This run took {}{} to build and start the stack, then {:.1} min to measure (goal: a full run within 40 \
         minutes).\n",
        run.setup_seconds.map(|s| format!("{:.1} min", s / 60.0)).unwrap_or_else(|| "an unknown time".into()),
        if phases.is_empty() { String::new() } else { format!(" ({})", phases.join(", ")) },
        run.measured_in.as_secs_f64() / 60.0
    );
    if let Ok(only) = std::env::var("PARLEY_BENCH_FUNCTIONS") {
        println!(
            "**A partial run**: only {} (`PARLEY_BENCH_FUNCTIONS`). `make bench` without it measures every function.\n",
            only.split_whitespace().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
        );
    }
    println!(
        "Timings are this machine's, not Lambda's, and this machine is shared: compare ratios within one run \
         (a function against its floor), not absolute times across runs.\n"
    );

    budget(run);
    floor_table(run);
    every_table(run);
    sizes_table(run);
    growth_table(run);
    e2e_table(run);
    println!("{}", include_str!("report_notes.md"));
}

fn budget(run: &Run<'_>) {
    let all: Vec<&Measured> = run.every.iter().map(|(m, _)| m).collect();
    let worst = |f: &dyn Fn(&Measured) -> Duration| all.iter().map(|m| f(m)).max().unwrap_or_default();
    let over = |f: &dyn Fn(&Measured) -> bool| -> String {
        let names: Vec<&str> = all.iter().filter(|m| !f(m)).map(|m| m.name.as_str()).collect();
        if names.is_empty() { String::new() } else { format!(" — over: {}", names.join(", ")) }
    };
    println!("## Against the budget (design brief §6)\n");
    println!("| goal | result | verdict |\n|---|---|---|");
    let init = worst(&|m| m.init);
    println!(
        "| init ≤ 10 ms p50 (median of {} starts), every function | worst {}{} | {} |",
        crate::COLD_STARTS,
        ms(init),
        over(&|m| m.init <= INIT_GOAL),
        verdict(init <= INIT_GOAL)
    );
    let first = worst(&|m| first_response(run, m));
    let (slowest, slowest_name) = run
        .every
        .iter()
        .map(|(m, _)| m)
        .chain(run.floor)
        .filter_map(|m| m.first_responses.last().map(|t| (*t, m.name.as_str())))
        .max()
        .unwrap_or_default();
    println!(
        "| first response ≤ 25 ms (database connect included), every function: the median of {} starts, with its \
         sample and, for a floor function, in its floor run too, whichever is slower | worst {}{}; the slowest \
         single start {} ({slowest_name}) | {} |",
        crate::COLD_STARTS,
        ms(first),
        over(&|m| first_response(run, m) <= FIRST_GOAL),
        ms(slowest),
        verdict(first <= FIRST_GOAL)
    );
    if let Some(m) = run.floor.iter().find(|m| m.direct.is_empty()) {
        let p50 = percentile(&m.warm, 0.5);
        println!("| no database work ≤ 1 ms p50 ({}) | {} | {} |", m.name, ms(p50), verdict(p50 <= NO_DB_P50_GOAL));
    }
    let (mut comparable, mut aside) = (Vec::new(), Vec::new());
    for m in run.floor.iter().filter(|m| !m.direct.is_empty()) {
        if m.note.is_empty() { comparable.push(m) } else { aside.push(m) }
    }
    let over_names: Vec<String> = comparable
        .iter()
        .filter_map(|m| {
            let (r50, r99) = ratios(m);
            over_floor(m).then(|| format!("{} ({r50:.2}×, {r99:.2}×)", m.name))
        })
        .collect();
    if !comparable.is_empty() {
        let worst50 = comparable.iter().map(|m| ratios(m).0).fold(0.0, f64::max);
        let worst99 = comparable.iter().map(|m| ratios(m).1).fold(0.0, f64::max);
        println!(
            "| every database endpoint whose work is all in PostgreSQL ({}): p50 ≤ 1.5×, p99 ≤ 3× the same SQL replayed directly | worst p50 {worst50:.2}×, worst p99 {worst99:.2}×{} | {} |",
            comparable.len(),
            if over_names.is_empty() { String::new() } else { format!(" — over: {}", over_names.join(", ")) },
            verdict(over_names.is_empty())
        );
    }

    if !aside.is_empty() {
        println!(
            "| endpoints that also call another service ({}) | see the floor table: their floor is PostgreSQL's share | — |",
            aside.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let missing: Vec<String> =
        run.floor.iter().filter(|m| m.note.starts_with("no floor")).map(|m| m.name.clone()).collect();
    if !missing.is_empty() {
        println!(
            "| a floor for every database endpoint | none for {} (see the floor table) | **missed** |",
            missing.join(", ")
        );
    }
    let peak = all.iter().map(|m| m.peak_kb).max().unwrap_or(0);
    let flat_all = all.iter().all(|m| flat(m));
    println!(
        "| peak RSS ≤ 24 MB and flat, every function | worst {:.1} MB{}{} | {} |",
        mb(peak),
        over(&|m| mb(m.peak_kb) <= RSS_GOAL_MB),
        if flat_all { ", flat" } else { ", **not flat**" },
        verdict(mb(peak) <= RSS_GOAL_MB && flat_all)
    );
    let arm: Vec<(&str, f64)> =
        run.sizes.iter().filter_map(|(n, _, a)| a.map(|a| (n.as_str(), a as f64 / 1_048_576.0))).collect();
    if arm.is_empty() {
        println!("| zipped arm64 `bootstrap` ≤ 8 MB | not built in this run (`PARLEY_BENCH_ARM64=0`) | — |");
    } else {
        let worst = arm.iter().map(|(_, s)| *s).fold(0.0, f64::max);
        let over: Vec<&str> = arm.iter().filter(|(_, s)| *s > ZIP_GOAL_MB).map(|(n, _)| *n).collect();
        println!(
            "| zipped arm64 `bootstrap` ≤ 8 MB, every function | worst {worst:.2} MB{}{} | {} |",
            if over.is_empty() { String::new() } else { format!(" — over: {}", over.join(", ")) },
            run.arm64_commit.as_ref().map(|c| format!(" (`make package` at `{c}`)")).unwrap_or_default(),
            verdict(over.is_empty())
        );
    }
    // The whole run, builds included, is only judged when it is the one the goal names.
    if let Some(setup) = run.setup_seconds {
        let minutes = (setup + run.measured_in.as_secs_f64()) / 60.0;
        let mut not_judged = Vec::new();
        if !run.clean {
            not_judged.push("the target directory already held builds");
        }
        if std::env::var("PARLEY_BENCH_FUNCTIONS").is_ok() {
            not_judged.push("a partial run");
        }
        if arm.is_empty() || run.arm64_commit.is_some() {
            not_judged.push("arm64 not built in this run");
        }
        if not_judged.is_empty() {
            println!("| `make bench` from a clean clone ≤ 40 min | {minutes:.1} min | {} |", verdict(minutes <= 40.0));
        } else {
            println!(
                "| `make bench` from a clean clone ≤ 40 min | {minutes:.1} min, not judged: {} | — |",
                not_judged.join(", ")
            );
        }
    }
    println!();
    first_response_reasons(run);
    floor_reasons(run);
}

/// For the endpoints over their floor: how much of the gap (warm p50 − floor p50) is the
/// function's own CPU time, from the floor table's CPU column.
fn floor_reasons(run: &Run<'_>) {
    let over: Vec<&Measured> = run.floor.iter().filter(|m| judged(m) && over_floor(m)).collect();
    if over.is_empty() {
        return;
    }
    let gaps: Vec<(Duration, Duration)> =
        over.iter().map(|m| (percentile(&m.warm, 0.5).saturating_sub(percentile(&m.direct, 0.5)), m.cpu)).collect();
    let (gap_lo, gap_hi) =
        (gaps.iter().map(|g| g.0).min().unwrap_or_default(), gaps.iter().map(|g| g.0).max().unwrap_or_default());
    let (cpu_lo, cpu_hi) =
        (gaps.iter().map(|g| g.1).min().unwrap_or_default(), gaps.iter().map(|g| g.1).max().unwrap_or_default());
    println!(
        "Where the endpoints over their floor spend the difference: their warm p50 is {}–{} above the floor's, of \
         which the function's own CPU time is {}–{} per invocation (the floor table's CPU column: the event's \
         parsing, the token's check, the handler, tokio-postgres, the response). The rest is waiting that a \
         replay does not do: the Runtime API handing over the event and taking the response, and the function's \
         process woken for each of those and for each answer from PostgreSQL, on two cores shared with \
         PostgreSQL and the bench.{}\n",
        us(gap_lo),
        us(gap_hi),
        us(cpu_lo),
        us(cpu_hi),
        run.floor
            .iter()
            .find(|m| m.direct.is_empty() && m.note.is_empty())
            .map(|m| format!(
                " For scale, `{}`, which does no database work, answers in {} at p50 with {} of its own CPU.",
                m.name,
                ms(percentile(&m.warm, 0.5)),
                us(m.cpu)
            ))
            .unwrap_or_default()
    );
}

/// A function's first response as the budget judges it: the slower of its runs' (each the
/// median of its starts). Every function has a run driven by its sample, which may be a
/// refusal that stops before the work (`phone-verification-check`'s is a 401); a floor
/// function has another in the floor run, whose events do the endpoint's work.
fn first_response(run: &Run<'_>, m: &Measured) -> Duration {
    run.floor.iter().filter(|f| f.name == m.name).map(|f| f.first_response()).fold(m.first_response(), Duration::max)
}

/// The waits outside the function that every first response over its goal is made of.
fn first_response_reasons(run: &Run<'_>) {
    let o = &run.outside;
    println!(
        "A first response includes what the function waits on here, measured by the bench the same way \
         (medians): a new PostgreSQL connection, {} (a backend started, SCRAM sign-in); a call to moto, the \
         local DynamoDB and KMS, {} (DynamoDB GetItem) and {} (KMS Encrypt); moto is Python and serves one \
         request at a time (`scripts/moto_serial.py`). The functions over the goal wait on more than the \
         connection: the floor table's notes name the other services they call{}; a first phone number parse \
         loads libphonenumber's metadata (timed below the table of every function).\n",
        ms(o.pg_connect),
        ms(o.dynamodb_call),
        ms(o.kms_call),
        idempotent_over(run)
    );
    // A new backend's first statements: what the floor run's recorder saw PostgreSQL take.
    let over: Vec<String> = run
        .every
        .iter()
        .filter(|(m, _)| first_response(run, m) > FIRST_GOAL)
        .filter_map(|(m, _)| run.floor.iter().find(|f| f.name == m.name))
        .filter_map(|f| {
            f.db_first_and_next.map(|(first, next)| format!("{} {} against {}", f.name, ms(first), ms(next)))
        })
        .collect();
    if !over.is_empty() {
        println!(
            "A first request also meets a new PostgreSQL backend, whose first statements read the catalog and plan \
             (and compile PL/pgSQL) before they run; behind RDS Proxy, a new instance's transactions mostly run on \
             backends the proxy already holds open, which have done this. In the floor run, the recorder in front \
             of PostgreSQL measured how long it held each such function's SQL in the first invocation against the \
             second: {}.\n",
            over.join("; ")
        );
    }
}

/// The clause naming the functions over the first-response goal whose sample sends an
/// `Idempotency-Key` (empty when none does).
fn idempotent_over(run: &Run<'_>) -> String {
    let names: Vec<String> = run
        .every
        .iter()
        .filter(|(m, sample)| first_response(run, m) > FIRST_GOAL && sample.sends_header("idempotency-key"))
        .map(|(m, _)| format!("`{}`", m.name))
        .collect();
    let whose = match names.as_slice() {
        [] => return String::new(),
        [one] => format!("{one}'s sample also sends"),
        many => format!("the samples of {} also send", many.join(", ")),
    };
    format!(", and {whose} an `Idempotency-Key`, whose record is written in DynamoDB before and after the work")
}

/// A first response as the tables show it: the median of the starts, and their range when
/// there were several (`19.72 ms (17.10–30.24)`).
fn first_response_text(m: &Measured) -> String {
    match m.first_responses.as_slice() {
        [first, .., last] => {
            format!(
                "{} ({:.2}–{:.2})",
                ms(m.first_response()),
                first.as_secs_f64() * 1000.0,
                last.as_secs_f64() * 1000.0
            )
        }
        _ => ms(m.first_response()),
    }
}

/// `s`, in bold when `ok` is false (a result over its goal).
fn bold_unless(ok: bool, s: String) -> String {
    if ok { s } else { format!("**{s}**") }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// A floor row whose ratio the budget judges: a floor was recorded and nothing is left out.
fn judged(m: &Measured) -> bool {
    !m.direct.is_empty() && m.note.is_empty()
}

/// Over the floor goal: p50 above 1.5× or p99 above 3× the floor's.
fn over_floor(m: &Measured) -> bool {
    let (r50, r99) = ratios(m);
    r50 > 1.5 || r99 > 3.0
}

fn ratios(m: &Measured) -> (f64, f64) {
    let r = |p| percentile(&m.warm, p).as_secs_f64() / percentile(&m.direct, p).as_secs_f64().max(1e-9);
    (r(0.5), r(0.99))
}

fn floor_table(run: &Run<'_>) {
    println!("## Warm latency against the floor\n");
    println!(
        "The floor is the handler's SQL replayed directly on one connection, with the same transaction shape \
         (`BEGIN` + context, the statements, `COMMIT`, pipelined the same way). `session-anonymous`'s is written \
         by hand with tokio-postgres and includes its DynamoDB call (see the notes below); every other \
         endpoint's is recorded from one warm invocation of the function itself and \
         replayed byte for byte on its own connection (`tools/bench/src/replay.rs`), with each `COMMIT` of the run \
         turned into `ROLLBACK` so that every invocation and replay does the same work. The recorder forwards the \
         function's traffic and the replay's alike, so its loopback hop is on both sides. Work outside PostgreSQL \
         is not in a recorded floor: the last column names it, and such a ratio is not judged.\n"
    );
    println!(
        "| function | init | first response | warm p50 | warm p99 | floor p50 | floor p99 | p50 ratio | p99 ratio | CPU per invocation | RSS after 100 | RSS after {} | peak RSS | note |",
        run.invocations
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in run.floor {
        let (f50, f99, r50, r99) = if m.direct.is_empty() {
            ("—".into(), "—".into(), "—".into(), "—".into())
        } else {
            let (r50, r99) = ratios(m);
            (
                ms(percentile(&m.direct, 0.5)),
                ms(percentile(&m.direct, 0.99)),
                format!("{r50:.2}×"),
                format!("{r99:.2}×"),
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {f50} | {f99} | {r50} | {r99} | {} | {:.1} MB | {:.1} MB | {:.1} MB | {} |",
            m.name,
            ms(m.init),
            bold_unless(m.first_response() <= FIRST_GOAL, first_response_text(m)),
            ms(percentile(&m.warm, 0.5)),
            ms(percentile(&m.warm, 0.99)),
            us(m.cpu),
            mb(m.rss_early_kb),
            mb(m.rss_late_kb),
            mb(m.peak_kb),
            m.note,
        );
    }
    println!(
        "\nFirst response: the median of the starts, their range in brackets; bold when over 25 ms. Here the \
         events do the endpoint's work from the first; the budget judges each function's slower median, this \
         one or its sample's in the table of every function.\n"
    );
}

fn every_table(run: &Run<'_>) {
    println!("## Every function: cold start and memory\n");
    println!(
        "| function | driven with | init | first response | warm p50 | warm p99 | RSS after 100 | RSS after {} | peak RSS | answers |",
        run.every_invocations
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (m, sample) in run.every {
        println!(
            "| {} | `{}` | {} | {} | {} | {} | {:.1} MB | {} | {} | {} |",
            m.name,
            sample.file,
            bold_unless(m.init <= INIT_GOAL, ms(m.init)),
            bold_unless(m.first_response() <= FIRST_GOAL, first_response_text(m)),
            ms(percentile(&m.warm, 0.5)),
            ms(percentile(&m.warm, 0.99)),
            mb(m.rss_early_kb),
            bold_unless(flat(m), format!("{:.1} MB", mb(m.rss_late_kb))),
            bold_unless(mb(m.peak_kb) <= RSS_GOAL_MB, format!("{:.1} MB", mb(m.peak_kb))),
            bold_unless(expected_only(m, &sample.file), m.outcomes_text()),
        );
    }
    println!(
        "\nFirst response: the median of the starts, their range in brackets. A sample that sends an \
         `Idempotency-Key` gets a new key, and signed in a new user, on every invocation, so each does the work \
         instead of replaying the first answer. Bold: over its goal (init 10 ms, first response 25 ms, peak RSS \
         24 MB and flat), or answers other than the sample's (its file name's status; a \
         success where it names none; the answers count every start's first).\n"
    );
    let (roots, count) = run.native_roots;
    println!(
        "The AWS SDK's clients trust the Amazon roots compiled in (`shared::platform::aws`), so no AWS function \
         reads the system's certificates. reqwest's clients (JWKS, Twilio, Anthropic) verify through the platform \
         verifier, which loads them on an instance's first HTTPS call: {} here for {count} certificates (median \
         of five; on this Debian machine that reads the bundle and every file in `/etc/ssl/certs`, while \
         Lambda's Amazon Linux keeps a bundle and few files there). The local stubs speak HTTP, so no first \
         response above includes it.\n",
        ms(roots)
    );
    println!(
        "`phone-verification-start` and `phone-verification-check` parse the number a person typed with \
         libphonenumber's metadata (the `phonenumber` crate), which loads on the first parse and compiles the \
         patterns of the number's region as they are used: {} here (the bench's own first parse; it happens once \
         per process), inside those functions' first response when their event reaches the parse (the floor \
         run's do). The crate is vendored with two changes (`vendor/phonenumber/PARLEY.md`): released, it \
         parsed every pattern of every region with `regex-syntax` to check it before keeping it, most of the \
         time this load took, and it compiled a region's patterns with Unicode digits, though they only see \
         ASCII ones, most of what remained; a test compiles them all instead, and checks each matches as \
         before.\n",
        ms(run.phone_metadata)
    );
}

/// Whether every answer is the one `file` (the sample) expects: the status in its name
/// (`empty-cart.409.json`), else a success.
fn expected_only(m: &Measured, file: &str) -> bool {
    let named = file.split_whitespace().next().unwrap_or(file).rsplit('.').nth(1).filter(|s| s.len() == 3);
    match named.and_then(|s| s.parse::<u16>().ok()) {
        Some(status) => m.outcomes.keys().all(|o| *o == status.to_string()),
        None => m.failures().is_empty(),
    }
}

fn sizes_table(run: &Run<'_>) {
    println!("## Package sizes\n");
    if run.sizes.is_empty() {
        println!("Not measured in this run.\n");
        return;
    }
    println!(
        "Zipped `bootstrap` as Lambda receives it (deflate, level 9). arm64 is what ships (cargo-lambda with zig).\n"
    );
    if let Some(commit) = &run.arm64_commit {
        println!(
            "**The arm64 column is from another build**: `make package` at commit `{commit}` \
             (`PARLEY_BENCH_ARM64_FROM`), not this run's commit; the x86_64 columns are this run's.\n"
        );
    }
    println!(
        "The last column splits each x86_64 binary's code by the crate each function symbol's path names \
         (what `cargo bloat --crates` reports; `core`, `alloc` and `std` hold the generic code instantiated for \
         everyone, and `[C/assembly]` is mostly aws-lc's cryptography).\n"
    );
    println!("| function | zipped x86_64 | zipped arm64 | code | largest crates by code |\n|---|---|---|---|---|");
    for (name, x86, arm) in run.sizes {
        let (code, crates) = match run.bloat.iter().find(|b| &b.function == name) {
            Some(b) => (
                format!("{:.1} MB", b.code_bytes as f64 / 1_048_576.0),
                b.crates
                    .iter()
                    .map(|(c, s)| format!("{c} {:.0} %", *s as f64 * 100.0 / b.code_bytes.max(1) as f64))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => ("—".into(), "—".into()),
        };
        let arm = match arm {
            Some(a) => {
                let s = *a as f64 / 1_048_576.0;
                if s > ZIP_GOAL_MB { format!("**{s:.2} MB**") } else { format!("{s:.2} MB") }
            }
            None => "—".into(),
        };
        println!("| {name} | {:.2} MB | {arm} | {code} | {crates} |", *x86 as f64 / 1_048_576.0);
    }
    println!();
}

fn growth_table(run: &Run<'_>) {
    println!("## How cost grows\n");
    if run.growth.is_empty() {
        println!("Not measured in this run (`PARLEY_BENCH_GROWTH=0`).\n");
        return;
    }
    println!(
        "Goals: `verify-chains` ≥ 300 000 messages/s with flat memory; the tone analyzer ≥ 50 000 messages/s \
         on one core. Appends and history pages should not grow with the conversation.\n"
    );
    println!("| measurement | result |\n|---|---|");
    for l in run.growth {
        println!("| {} | {} |", l.what, l.result);
    }
    println!();
}

fn e2e_table(run: &Run<'_>) {
    println!("## End to end through the gateway\n");
    if run.e2e.is_empty() {
        println!("Not measured in this run (`PARLEY_BENCH_E2E=0`).\n");
        return;
    }
    println!(
        "The release `parley-local serve` (every HTTP handler in one process) over real HTTP, each flow at \
         concurrency 1, 8 and 32 with the same number of requests; preparation (users, quotes, carts, wallets, \
         paid sessions) is not timed. PostgreSQL's application-role backends inside a transaction are sampled every \
         5 ms: the most at once, and the connection time per request that gives (their mean ÷ throughput, Little's \
         law). At concurrency 1 that time is what a request needs; above it, the gateway, PostgreSQL, moto and the \
         stubs share two cores, so a transaction also waits for CPU and holds its connection longer — Lambda gives \
         each instance its own CPU, so the model in `docs/scaling.md` takes the concurrency-1 figures. DynamoDB and \
         KMS here are moto, which serves one request at a time, so flows that call them stop scaling sooner than \
         they would in AWS.\n"
    );
    println!(
        "| flow | concurrency | requests | errors | throughput | p50 | p99 | in a transaction: most | mean | mean the model predicts | connection time per request | PostgreSQL CPU per request | AWS calls per request |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in run.e2e {
        // The model: throughput × the connection time measured at concurrency 1.
        let predicted = run
            .e2e
            .iter()
            .find(|o| o.flow == r.flow && o.concurrency == 1)
            .map(|one| r.throughput() * one.connection_ms() / 1000.0)
            .unwrap_or(f64::NAN);
        let calls: Vec<String> =
            r.aws_calls.iter().map(|(op, n)| format!("{} {n:.2}", op.split('.').next_back().unwrap_or(op))).collect();
        println!(
            "| {} | {} | {} | {} | {:.0}/s | {} | {} | {} | {:.2} | {predicted:.2} | {:.2} ms | {:.2} ms | {} |",
            r.flow,
            r.concurrency,
            r.requests,
            if r.errors == 0 { "0".to_owned() } else { format!("**{}**", r.errors) },
            r.throughput(),
            ms(percentile(&r.latencies, 0.5)),
            ms(percentile(&r.latencies, 0.99)),
            r.peak_busy,
            r.mean_busy,
            r.connection_ms(),
            r.db_cpu_ms_per_request(),
            if calls.is_empty() { "—".to_owned() } else { calls.join(", ") },
        );
    }
    let over: Vec<String> = run
        .e2e
        .iter()
        .filter(|r| r.peak_busy > r.concurrency as i64)
        .map(|r| format!("{} at {}", r.flow, r.concurrency))
        .collect();
    println!(
        "\nThe model's bound — a request holds at most one connection in a transaction, so no more than the \
         concurrency are ever in one — {}. The model's estimate — throughput × the connection time measured at \
         concurrency 1 — is beside the mean measured: where the two cores are saturated the measured mean is \
         higher, because a transaction also waits for CPU while it holds its connection.\n",
        if over.is_empty() { "held in every run".to_owned() } else { format!("**did not hold**: {}", over.join(", ")) }
    );
}
