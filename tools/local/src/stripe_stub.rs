//! A local Stripe: the few endpoints Parley calls, speaking Stripe's wire format, in memory.
//!
//! - requests are form-encoded with `a[b][c]` keys (as every Stripe SDK sends them) and need
//!   `Authorization: Bearer sk_…`;
//! - answers are JSON objects shaped like Stripe's published ones (enough fields for the
//!   async-stripe types to parse), errors are Stripe error objects
//!   (`{"error": {"type", "code", "message", "param"}}`);
//! - a POST with an `Idempotency-Key` seen before replays the first answer
//!   (`Idempotent-Replayed: true`); the same key with another body is a 400
//!   `idempotency_error`, as Stripe does;
//! - every state change appends an event to `GET /v1/events` (newest first), which is what
//!   `reconcile-stripe`-style repair reads; nothing is delivered by the stub itself.
//!
//! Endpoints: `POST /v1/customers`, `GET /v1/customers/{id}`, `POST /v1/checkout/sessions`
//! (mode `payment` with inline prices, or `subscription` with a price id — every price
//! costs 900 cents a month here), `GET /v1/checkout/sessions/{id}`,
//! `POST /v1/checkout/sessions/{id}/expire`, `GET /v1/subscriptions/{id}`,
//! `GET /v1/invoices/{id}`, `POST /v1/billing_portal/sessions`, `GET /v1/events`, and test
//! hooks that answer the events they created (for `parley-local stripe pay` or a test to
//! sign and deliver):
//! - `POST /_stub/checkout/sessions/{id}/pay` — the buyer pays; a subscription session
//!   also creates its subscription (active) and first invoice (paid);
//! - `POST /_stub/subscriptions/{id}` with `status` and/or `cancel_at_period_end` — the
//!   subscription changes (as in the Billing Portal): `customer.subscription.updated`
//!   (`canceled` also `customer.subscription.deleted`);
//! - `POST /_stub/subscriptions/{id}/renewal_failed` — a renewal invoice fails: the
//!   subscription becomes `past_due` (`invoice.payment_failed`,
//!   `customer.subscription.updated`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The API version the stub claims to render objects in.
pub const API_VERSION: &str = "2025-11-17.clover";

/// What every price costs in the stub, per month.
pub const SUBSCRIPTION_PRICE_CENTS: i64 = 900;

#[derive(Default)]
struct State {
    objects: HashMap<String, Value>,
    /// Newest last.
    events: Vec<Value>,
    /// Idempotency-Key → (request fingerprint, status, body).
    replays: HashMap<String, (String, u16, String)>,
    counter: u64,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_local{:08}{}", self.counter, &uuid::Uuid::now_v7().simple().to_string()[20..])
    }

    fn event(&mut self, typ: &str, object: Value) -> Value {
        let id = self.id("evt");
        let event = json!({
            "id": id, "object": "event", "api_version": API_VERSION, "created": now(),
            "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": typ, "data": {"object": object},
        });
        self.events.push(event.clone());
        event
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Serves the stub until the process ends.
pub async fn serve(listener: TcpListener) {
    let state = Arc::new(Mutex::new(State::default()));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(dispatch(&state, req).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Reply = (u16, Value);

fn error(status: u16, typ: &str, code: &str, message: &str, param: Option<&str>) -> Reply {
    (status, json!({"error": {"type": typ, "code": code, "message": message, "param": param}}))
}

fn missing(kind: &str, id: &str) -> Reply {
    error(404, "invalid_request_error", "resource_missing", &format!("No such {kind}: '{id}'"), Some("id"))
}

async fn dispatch(state: &Mutex<State>, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let authorized = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer sk_") || v.starts_with("Bearer rk_"));
    let key = parts.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fingerprint = format!("{method} {path} {}", String::from_utf8_lossy(&body));

    let mut replayed = false;
    let (status, value) = if !authorized && !path.starts_with("/_stub/") {
        error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided", None)
    } else {
        let mut st = state.lock().expect("no panics while held");
        match key.as_ref().filter(|_| method == "POST").and_then(|k| st.replays.get(k).cloned()) {
            Some((seen, status, text)) if seen == fingerprint => {
                replayed = true;
                (status, serde_json::from_str(&text).unwrap_or_default())
            }
            Some(_) => error(
                400,
                "idempotency_error",
                "idempotency_key_in_use",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                None,
            ),
            None => {
                let form = parse_form(&body);
                let query = parse_form(parts.uri.query().unwrap_or_default().as_bytes());
                let reply = route(&mut st, &method, &path, &form, &query);
                if let Some(k) = key.filter(|_| method == "POST" && reply.0 < 500) {
                    st.replays.insert(k, (fingerprint, reply.0, reply.1.to_string()));
                }
                reply
            }
        }
    };
    let mut resp = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("request-id", format!("req_local{}", uuid::Uuid::now_v7().simple()))
        .header("stripe-version", API_VERSION);
    if replayed {
        resp = resp.header("idempotent-replayed", "true");
    }
    resp.body(Full::new(Bytes::from(value.to_string()))).expect("static headers")
}

fn route(st: &mut State, method: &str, path: &str, form: &Value, query: &Value) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "customers"]) => {
            let id = st.id("cus");
            let customer = json!({
                "id": id, "object": "customer", "created": now(), "livemode": false,
                "email": form.get("email"), "metadata": form.get("metadata").cloned().unwrap_or(json!({})),
                "balance": 0, "delinquent": false, "invoice_prefix": "LOCAL", "default_source": null,
            });
            st.objects.insert(id, customer.clone());
            st.event("customer.created", customer.clone());
            (200, customer)
        }
        ("GET", ["v1", "customers", id]) => match st.objects.get(*id) {
            Some(c) => (200, c.clone()),
            None => missing("customer", id),
        },
        ("POST", ["v1", "checkout", "sessions"]) => create_session(st, form),
        ("GET", ["v1", "checkout", "sessions", id]) => match st.objects.get(*id) {
            Some(s) => (200, s.clone()),
            None => missing("checkout.session", id),
        },
        ("POST", ["v1", "checkout", "sessions", id, "expire"]) => {
            let Some(mut session) = st.objects.get(*id).cloned() else { return missing("checkout.session", id) };
            if session["status"] != "open" {
                return error(
                    400,
                    "invalid_request_error",
                    "checkout_session_not_open",
                    "Only Checkout Sessions with a status of open can be expired.",
                    None,
                );
            }
            session["status"] = json!("expired");
            session["url"] = Value::Null;
            st.objects.insert(id.to_string(), session.clone());
            st.event("checkout.session.expired", session.clone());
            (200, session)
        }
        ("POST", ["v1", "billing_portal", "sessions"]) => {
            let Some(customer) = form.get("customer").and_then(Value::as_str) else {
                return error(
                    400,
                    "invalid_request_error",
                    "parameter_missing",
                    "Missing required param: customer.",
                    Some("customer"),
                );
            };
            let id = st.id("bps");
            (
                200,
                json!({
                    "id": id, "object": "billing_portal.session", "created": now(), "livemode": false,
                    "customer": customer, "customer_account": null, "return_url": form.get("return_url"),
                    "configuration": "bpc_local",
                    "locale": null, "on_behalf_of": null, "flow": null,
                    "url": format!("https://billing.stripe.local/p/session/{id}"),
                }),
            )
        }
        ("GET", ["v1", "events"]) => {
            let limit = query.get("limit").and_then(Value::as_str).and_then(|l| l.parse().ok()).unwrap_or(10usize);
            let since = query.pointer("/created/gte").and_then(Value::as_str).and_then(|c| c.parse::<i64>().ok());
            let after = query.get("starting_after").and_then(Value::as_str);
            // Newest first; `starting_after` continues below the given event.
            let mut newest_first =
                st.events.iter().rev().filter(|e| since.is_none_or(|s| e["created"].as_i64() >= Some(s)));
            let rest: Vec<&Value> = match after {
                Some(a) => newest_first.by_ref().skip_while(|e| e["id"] != a).skip(1).collect(),
                None => newest_first.collect(),
            };
            let page: Vec<Value> = rest.iter().take(limit.clamp(1, 100)).map(|e| (*e).clone()).collect();
            (200, json!({"object": "list", "url": "/v1/events", "has_more": rest.len() > page.len(), "data": page}))
        }
        ("GET", ["v1", "subscriptions", id]) => match st.objects.get(*id) {
            Some(s) => (200, s.clone()),
            None => missing("subscription", id),
        },
        ("GET", ["v1", "invoices", id]) => match st.objects.get(*id) {
            Some(i) => (200, i.clone()),
            None => missing("invoice", id),
        },
        ("POST", ["_stub", "checkout", "sessions", id, "pay"]) => pay(st, id),
        ("POST", ["_stub", "subscriptions", id]) => change_subscription(st, id, form),
        ("POST", ["_stub", "subscriptions", id, "renewal_failed"]) => renewal_failed(st, id),
        _ => error(
            404,
            "invalid_request_error",
            "resource_missing",
            &format!("Unrecognized request URL ({method}: {path})."),
            None,
        ),
    }
}

fn create_session(st: &mut State, form: &Value) -> Reply {
    let mode = form.get("mode").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !["payment", "subscription", "setup"].contains(&mode.as_str()) {
        return error(400, "invalid_request_error", "parameter_missing", "Missing required param: mode.", Some("mode"));
    }
    let items = form.get("line_items").cloned().unwrap_or(json!([]));
    let items = items.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return error(
            400,
            "invalid_request_error",
            "parameter_missing",
            "Missing required param: line_items.",
            Some("line_items"),
        );
    }
    let mut total: i64 = 0;
    let mut currency = "usd".to_owned();
    for (i, item) in items.iter().enumerate() {
        let quantity = item["quantity"].as_str().and_then(|q| q.parse::<i64>().ok()).unwrap_or(1);
        let amount = match (mode.as_str(), item["price"].as_str()) {
            ("subscription", Some(_)) => Some(SUBSCRIPTION_PRICE_CENTS),
            _ => item["price_data"]["unit_amount"].as_str().and_then(|a| a.parse::<i64>().ok()),
        };
        let Some(amount) = amount else {
            return error(
                400,
                "invalid_request_error",
                "parameter_missing",
                "Missing required param: line_items[0][price_data][unit_amount] (the stub prices inline only).",
                Some(&format!("line_items[{i}][price_data][unit_amount]")),
            );
        };
        if let Some(c) = item["price_data"]["currency"].as_str() {
            currency = c.to_owned();
        }
        total += amount * quantity;
    }
    let expires_at = form.get("expires_at").and_then(Value::as_str).and_then(|e| e.parse::<i64>().ok());
    let expires_at = expires_at.unwrap_or_else(|| now() + 24 * 3600);
    if expires_at < now() + 30 * 60 - 60 || expires_at > now() + 24 * 3600 + 60 {
        return error(
            400,
            "invalid_request_error",
            "parameter_invalid_integer",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            Some("expires_at"),
        );
    }
    let id = st.id("cs_test");
    let session = json!({
        "id": id, "object": "checkout.session", "mode": mode, "status": "open", "payment_status": "unpaid",
        "amount_subtotal": total, "amount_total": total, "currency": currency, "created": now(),
        "expires_at": expires_at, "livemode": false,
        "client_reference_id": form.get("client_reference_id"), "customer": form.get("customer"),
        "metadata": form.get("metadata").cloned().unwrap_or(json!({})),
        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
        "line_items_price": items.first().and_then(|i| i.get("price")).cloned(),
        "subscription_metadata": form.pointer("/subscription_data/metadata").cloned().unwrap_or(json!({})),
        "payment_intent": null, "subscription": null, "invoice": null,
        "payment_method_types": ["card"], "custom_fields": [], "shipping_options": [],
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "url": format!("https://checkout.stripe.local/c/pay/{id}"),
    });
    st.objects.insert(id, session.clone());
    (200, session)
}

/// What a buyer finishing the hosted page does: the session completes and is paid, with a
/// PaymentIntent, and `checkout.session.completed` is recorded.
fn pay(st: &mut State, id: &str) -> Reply {
    let Some(mut session) = st.objects.get(id).cloned() else { return missing("checkout.session", id) };
    if session["status"] != "open" {
        return error(
            400,
            "invalid_request_error",
            "checkout_session_not_open",
            "This Checkout Session is not open.",
            None,
        );
    }
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["url"] = Value::Null;
    let mut events = Vec::new();
    if session["mode"] == "subscription" {
        let (subscription, invoice) = start_subscription(st, &session);
        session["subscription"] = subscription["id"].clone();
        session["invoice"] = invoice["id"].clone();
        events.push(st.event("customer.subscription.created", subscription));
        events.push(st.event("invoice.paid", invoice));
    } else {
        session["payment_intent"] = json!(st.id("pi"));
    }
    st.objects.insert(id.to_owned(), session.clone());
    events.push(st.event("checkout.session.completed", session));
    (200, json!({"object": "list", "data": events}))
}

/// The subscription a paid subscription session creates, and its first (paid) invoice.
fn start_subscription(st: &mut State, session: &Value) -> (Value, Value) {
    let (sub_id, item_id) = (st.id("sub"), st.id("si"));
    let start = now();
    let subscription = json!({
        "id": sub_id, "object": "subscription", "customer": session["customer"], "status": "active",
        "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null, "created": start,
        "currency": session["currency"], "livemode": false,
        "metadata": session["subscription_metadata"],
        "items": {"object": "list", "has_more": false, "url": format!("/v1/subscription_items?subscription={sub_id}"),
            "data": [{"id": item_id, "object": "subscription_item", "quantity": 1,
                "price": {"id": session["line_items_price"], "object": "price", "currency": session["currency"],
                          "unit_amount": SUBSCRIPTION_PRICE_CENTS, "recurring": {"interval": "month", "interval_count": 1}},
                "current_period_start": start, "current_period_end": start + 30 * 24 * 3600}]},
    });
    st.objects.insert(sub_id.clone(), subscription.clone());
    let invoice = new_invoice(st, &subscription, "paid");
    (subscription, invoice)
}

fn new_invoice(st: &mut State, subscription: &Value, status: &str) -> Value {
    let id = st.id("in");
    let paid = if status == "paid" { SUBSCRIPTION_PRICE_CENTS } else { 0 };
    let invoice = json!({
        "id": id, "object": "invoice", "customer": subscription["customer"], "status": status,
        "amount_due": SUBSCRIPTION_PRICE_CENTS, "amount_paid": paid, "amount_remaining": SUBSCRIPTION_PRICE_CENTS - paid,
        "currency": subscription["currency"], "created": now(), "livemode": false,
        "parent": {"type": "subscription_details", "quote_details": null,
                   "subscription_details": {"subscription": subscription["id"], "metadata": subscription["metadata"]}},
    });
    st.objects.insert(id, invoice.clone());
    invoice
}

/// A change made in the Billing Portal (or by Stripe): the fields in `form`.
fn change_subscription(st: &mut State, id: &str, form: &Value) -> Reply {
    let Some(mut subscription) = st.objects.get(id).cloned() else { return missing("subscription", id) };
    if let Some(status) = form.get("status").and_then(Value::as_str) {
        subscription["status"] = json!(status);
        if status == "canceled" {
            subscription["canceled_at"] = json!(now());
        }
    }
    if let Some(cancel) = form.get("cancel_at_period_end").and_then(Value::as_str) {
        subscription["cancel_at_period_end"] = json!(cancel == "true");
    }
    st.objects.insert(id.to_owned(), subscription.clone());
    let mut events = vec![st.event("customer.subscription.updated", subscription.clone())];
    if subscription["status"] == "canceled" {
        events.push(st.event("customer.subscription.deleted", subscription));
    }
    (200, json!({"object": "list", "data": events}))
}

/// A renewal whose payment fails: an open invoice, and the subscription `past_due`.
fn renewal_failed(st: &mut State, id: &str) -> Reply {
    let Some(mut subscription) = st.objects.get(id).cloned() else { return missing("subscription", id) };
    subscription["status"] = json!("past_due");
    st.objects.insert(id.to_owned(), subscription.clone());
    let invoice = new_invoice(st, &subscription, "open");
    let failed = st.event("invoice.payment_failed", invoice);
    let updated = st.event("customer.subscription.updated", subscription);
    (200, json!({"object": "list", "data": [failed, updated]}))
}

/// Stripe's webhook signature header for `payload` at time `t`:
/// `t={t},v1=hex(HMAC-SHA256(secret, "{t}.{payload}"))`.
pub fn sign(payload: &str, secret: &str, t: i64) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Decodes `a[b][0][c]=v` form keys into nested JSON: objects, and arrays where every key
/// of a level is an index. Values stay strings, as Stripe receives them.
pub fn parse_form(body: &[u8]) -> Value {
    let mut root = json!({});
    for (key, value) in form_urlencoded::parse(body) {
        let mut path: Vec<String> = Vec::new();
        let (head, rest) = key.split_once('[').map(|(h, r)| (h, Some(r))).unwrap_or((&key, None));
        path.push(head.to_owned());
        if let Some(rest) = rest {
            path.extend(rest.trim_end_matches(']').split("][").map(str::to_owned));
        }
        let mut node = &mut root;
        for (i, seg) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let map = node.as_object_mut().expect("levels are objects until arrays are made");
            if last {
                map.insert(seg.clone(), Value::String(value.clone().into_owned()));
                break;
            }
            node = map.entry(seg.clone()).or_insert_with(|| json!({}));
        }
    }
    arrays(root)
}

fn arrays(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let numeric = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if numeric {
                let mut items: Vec<(usize, Value)> =
                    map.into_iter().map(|(k, v)| (k.parse().unwrap(), arrays(v))).collect();
                items.sort_by_key(|(k, _)| *k);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_form_keys_become_objects_and_arrays() {
        // GIVEN a body the way Stripe SDKs encode a Checkout Session
        let body = b"mode=payment&line_items[0][price_data][unit_amount]=1800&line_items[0][quantity]=1\
&line_items[1][price_data][unit_amount]=2000&metadata[order_id]=abc";
        // WHEN it is decoded
        let v = parse_form(body);
        // THEN indexes are arrays, names are objects, values strings
        assert_eq!(v["mode"], "payment");
        assert_eq!(v["line_items"][0]["price_data"]["unit_amount"], "1800");
        assert_eq!(v["line_items"][1]["price_data"]["unit_amount"], "2000");
        assert_eq!(v["metadata"]["order_id"], "abc");
    }
}
