//! The connection and concurrency budget of `docs/scaling.md`, computed from the templates
//! (`parley-local capacity` prints it; `--write` puts it into the doc, and a test fails when
//! the doc and the templates disagree).
//!
//! Demand: for each stage, every function that connects to PostgreSQL (it has a
//! `PARLEY_*DATABASE_URL`) × its reserved concurrency × its pool size. Supply: Aurora's
//! `max_connections` for the data stack's default `MaxCapacity` (2 GiB per ACU;
//! `LEAST(DBInstanceClassMemory / 9531392, 5000)`), times the proxy's
//! `MaxConnectionsPercent`.

use std::fmt::Write;

use serde_yaml_ng::Value;

/// Stages with reserved concurrency (dev reserves none).
const STAGES: [&str; 2] = ["staging", "prod"];
const BYTES_PER_ACU: u64 = 2 * 1024 * 1024 * 1024;
const BYTES_PER_CONNECTION: u64 = 9_531_392;
/// Lambda keeps this much of the account's concurrency unreserved.
const UNRESERVED_MINIMUM: u64 = 100;

pub const BEGIN: &str = "<!-- capacity:begin (parley-local capacity --write) -->";
pub const END: &str = "<!-- capacity:end -->";

struct Row {
    name: String,
    kind: &'static str,
    pool: u64,
    /// Reserved concurrency per stage of [`STAGES`]; `None` when unreserved.
    reserved: Vec<Option<u64>>,
}

fn tag<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == name => Some(&t.value),
        _ => None,
    }
}

/// Evaluates `ReservedConcurrentExecutions` for `stage`: a number, or the template's
/// `!If [IsDev, !Ref AWS::NoValue, X]` with X a number or
/// `!FindInMap [StageSettings, !Ref Stage, ApiConcurrency]`.
fn reserved(v: Option<&Value>, stage: &str, doc: &Value) -> Result<Option<u64>, String> {
    let Some(v) = v else { return Ok(None) };
    if let Some(n) = v.as_u64() {
        return Ok(Some(n));
    }
    if let Some(args) = tag(v, "If").and_then(Value::as_sequence) {
        if args.first().and_then(Value::as_str) != Some("IsDev") || args.len() != 3 {
            return Err(format!("unexpected condition in ReservedConcurrentExecutions: {v:?}"));
        }
        return reserved(Some(&args[2]), stage, doc);
    }
    if let Some(args) = tag(v, "FindInMap").and_then(Value::as_sequence) {
        let map = args.first().and_then(Value::as_str).ok_or("FindInMap without a map")?;
        let key = args.get(2).and_then(Value::as_str).ok_or("FindInMap without a key")?;
        return doc
            .get("Mappings")
            .and_then(|m| m.get(map))
            .and_then(|m| m.get(stage))
            .and_then(|m| m.get(key))
            .and_then(Value::as_u64)
            .map(Some)
            .ok_or_else(|| format!("Mappings.{map}.{stage}.{key} is not a number"));
    }
    Err(format!("cannot evaluate ReservedConcurrentExecutions {v:?}"))
}

fn rows(app: &Value) -> Result<Vec<Row>, String> {
    let resources = app.get("Resources").and_then(Value::as_mapping).ok_or("no Resources")?;
    let mut rows = Vec::new();
    for (_, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = r.get("Properties").ok_or("a function without Properties")?;
        let name = props
            .get("CodeUri")
            .and_then(Value::as_str)
            .and_then(|c| c.trim_end_matches('/').rsplit('/').next())
            .ok_or("a function without CodeUri")?
            .to_owned();
        let env = props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
        let has = |var: &str| env.is_some_and(|e| e.contains_key(var));
        let uses_db = ["PARLEY_DATABASE_URL", "PARLEY_SERVICE_DATABASE_URL", "PARLEY_MIGRATE_DATABASE_URL"]
            .iter()
            .any(|v| has(v));
        if !uses_db {
            continue;
        }
        let pool = env
            .and_then(|e| e.get("PARLEY_DB_POOL_SIZE"))
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
            .unwrap_or(shared::platform::db::DEFAULT_POOL_SIZE as u64);
        let events = props.get("Events").and_then(Value::as_mapping);
        let event_types: Vec<&str> = events
            .map(|e| e.values().filter_map(|ev| ev.get("Type").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let kind = if event_types.contains(&"HttpApi") {
            if name.contains("webhook") { "webhook" } else { "API" }
        } else {
            "job"
        };
        let reserved = STAGES
            .iter()
            .map(|s| reserved(props.get("ReservedConcurrentExecutions"), s, app))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Row { name, kind, pool, reserved });
    }
    rows.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(rows)
}

/// The Markdown block for `docs/scaling.md`, from the application and data templates.
pub fn markdown(app_text: &str, data_text: &str) -> Result<String, String> {
    let app: Value = serde_yaml_ng::from_str(app_text).map_err(|e| e.to_string())?;
    let data: Value = serde_yaml_ng::from_str(data_text).map_err(|e| e.to_string())?;
    let rows = rows(&app)?;
    let acu = data
        .get("Parameters")
        .and_then(|p| p.get("MaxCapacity"))
        .and_then(|p| p.get("Default"))
        .and_then(Value::as_u64)
        .ok_or("data template: no MaxCapacity default")?;
    let percent = find_key(&data, "MaxConnectionsPercent").and_then(Value::as_u64).ok_or("no MaxConnectionsPercent")?;
    let max_connections = (acu * BYTES_PER_ACU / BYTES_PER_CONNECTION).min(5000);
    let budget = max_connections * percent / 100;

    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "Supply: `MaxCapacity` {acu} ACU → `max_connections` ≈ {max_connections}; the proxy may open \
         {percent} % of it: **{budget}** connections.\n"
    );
    let _ = writeln!(
        out,
        "| stage | functions with a database | client connections (Σ reserved × pool) | proxy budget | fits |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (i, stage) in STAGES.iter().enumerate() {
        let unreserved: Vec<&str> = rows.iter().filter(|r| r.reserved[i].is_none()).map(|r| r.name.as_str()).collect();
        let demand: u64 = rows.iter().map(|r| r.reserved[i].unwrap_or(0) * r.pool).sum();
        let fits = if !unreserved.is_empty() {
            format!("**unbounded**: {} reserve nothing", unreserved.join(", "))
        } else if demand <= budget {
            format!("yes, {} to spare", budget - demand)
        } else {
            format!("**no**, {} over", demand - budget)
        };
        let _ = writeln!(out, "| {stage} | {} | {demand} | {budget} | {fits} |", rows.len());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| function | kind | pool | {} |", STAGES.map(|s| format!("reserved ({s})")).join(" | "));
    let _ = writeln!(out, "|---|---|---|{}", "---|".repeat(STAGES.len()));
    for r in &rows {
        let cells: Vec<String> =
            r.reserved.iter().map(|c| c.map(|n| n.to_string()).unwrap_or_else(|| "—".into())).collect();
        let _ = writeln!(out, "| {} | {} | {} | {} |", r.name, r.kind, r.pool, cells.join(" | "));
    }
    let prod = STAGES.iter().position(|s| *s == "prod").expect("prod is a stage");
    let reserved_prod = account_reserved(&app, "prod")?;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Account concurrency in prod: {reserved_prod} executions reserved by the stack ({} of them by functions \
         with a database) + {UNRESERVED_MINIMUM} Lambda keeps unreserved = **{}** at least.",
        rows.iter().map(|r| r.reserved[prod].unwrap_or(0)).sum::<u64>(),
        reserved_prod + UNRESERVED_MINIMUM
    );
    let _ = writeln!(out, "{END}");
    Ok(out)
}

/// The concurrency every function of the stack reserves in `stage`.
fn account_reserved(app: &Value, stage: &str) -> Result<u64, String> {
    let resources = app.get("Resources").and_then(Value::as_mapping).ok_or("no Resources")?;
    let mut total = 0;
    for (_, r) in resources {
        if r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
            let props = r.get("Properties");
            total += reserved(props.and_then(|p| p.get("ReservedConcurrentExecutions")), stage, app)?.unwrap_or(0);
        }
    }
    Ok(total)
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Mapping(m) => m.get(key).or_else(|| m.values().find_map(|v| find_key(v, key))),
        Value::Sequence(s) => s.iter().find_map(|v| find_key(v, key)),
        Value::Tagged(t) => find_key(&t.value, key),
        _ => None,
    }
}

/// `text` with the block between [`BEGIN`] and [`END`] replaced by `block`.
pub fn replace_block(text: &str, block: &str) -> Result<String, String> {
    let start = text.find(BEGIN).ok_or("docs/scaling.md has no capacity:begin marker")?;
    let end = text[start..].find(END).map(|e| start + e + END.len()).ok_or("no capacity:end marker")?;
    let end = if text[end..].starts_with('\n') { end + 1 } else { end };
    Ok(format!("{}{}{}", &text[..start], block, &text[end..]))
}
