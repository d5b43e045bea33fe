//! A local Twilio: Verify v2 (start, check) and Messages (create), speaking Twilio's JSON
//! and error format, with signed status callbacks — what `make up` and `make test` point
//! `TWILIO_API_BASE_URL` / `TWILIO_VERIFY_BASE_URL` at.
//!
//! Behaviour, like Twilio's test credentials (magic numbers):
//! - the verification code is always [`KNOWN_CODE`]; five wrong codes → 60202; a check
//!   without a pending verification → 404 / 20404;
//! - `+15005550001` invalid (Verify 60200, Messages 21211), `+15005550004` opted out
//!   (21610), `+15005550007` too many verification sends (60203), `+15005550009` not a
//!   mobile (Verify 60205, Messages 21614);
//! - a sent message gets signed callbacks `queued → sent → delivered`; to `+15005550010`
//!   they arrive out of order (`delivered`, `queued`, `sent`), to `+15005550011` the message
//!   `failed` with error 30003;
//! - `GET /_stub/messages` lists what was sent (for tests); basic auth is checked.
//!
//! It logs nothing about numbers or bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use shared::sms::signature;

pub const KNOWN_CODE: &str = "123456";
/// Before the first callback: long enough for the sender to store the SID Twilio returned
/// even on a loaded machine (a callback for a SID not yet stored is only logged).
const FIRST_CALLBACK_DELAY: Duration = Duration::from_millis(1000);
const CALLBACK_DELAY: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub struct TwilioStub {
    account_sid: String,
    auth_token: String,
    state: Arc<Mutex<StubState>>,
}

#[derive(Default)]
struct StubState {
    /// Pending verifications: number → wrong tries.
    verifications: HashMap<String, u32>,
    messages: Vec<Value>,
    counter: u64,
}

type Reply = hyper::Response<Full<Bytes>>;

impl TwilioStub {
    pub fn new(account_sid: &str, auth_token: &str) -> Self {
        Self { account_sid: account_sid.to_owned(), auth_token: auth_token.to_owned(), state: Arc::default() }
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let stub = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let stub = stub.clone();
                    async move { Ok::<_, Infallible>(stub.dispatch(req).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }

    async fn dispatch(&self, req: hyper::Request<hyper::body::Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        if parts.method == hyper::Method::GET && path == "/_stub/messages" {
            let messages = self.state.lock().unwrap().messages.clone();
            return json_reply(200, &Value::Array(messages));
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token))
        );
        if parts.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return error(401, 20003, "Authenticate");
        }
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let form: HashMap<String, String> = signature::form_params(&body).into_iter().collect();
        let to = form.get("To").cloned().unwrap_or_default();
        if parts.method != hyper::Method::POST {
            return error(405, 20004, "Method not allowed");
        }
        if path.ends_with("/Verifications") {
            self.start_verification(&to)
        } else if path.ends_with("/VerificationCheck") {
            self.check_verification(&to, form.get("Code").map(String::as_str).unwrap_or_default())
        } else if path.ends_with("/Messages.json") {
            self.create_message(&to, &form)
        } else {
            error(404, 20404, "The requested resource was not found")
        }
    }

    fn start_verification(&self, to: &str) -> Reply {
        match to {
            "+15005550001" => return error(400, 60200, "Invalid parameter: To"),
            "+15005550007" => return error(429, 60203, "Max send attempts reached"),
            "+15005550009" => return error(400, 60205, "SMS is not supported by landline phone number"),
            _ => {}
        }
        self.state.lock().unwrap().verifications.insert(to.to_owned(), 0);
        json_reply(
            201,
            &json!({"sid": "VE00000000000000000000000000000000", "to": to, "channel": "sms", "status": "pending"}),
        )
    }

    fn check_verification(&self, to: &str, code: &str) -> Reply {
        let mut state = self.state.lock().unwrap();
        let Some(tries) = state.verifications.get_mut(to) else {
            return error(404, 20404, "The requested resource was not found");
        };
        if code == KNOWN_CODE {
            state.verifications.remove(to);
            return json_reply(200, &json!({"to": to, "status": "approved", "valid": true}));
        }
        *tries += 1;
        if *tries >= 5 {
            return error(429, 60202, "Max check attempts reached");
        }
        json_reply(200, &json!({"to": to, "status": "pending", "valid": false}))
    }

    fn create_message(&self, to: &str, form: &HashMap<String, String>) -> Reply {
        match to {
            "+15005550001" => return error(400, 21211, "The 'To' number is not a valid phone number."),
            "+15005550004" => return error(400, 21610, "Attempt to send to unsubscribed recipient"),
            "+15005550009" => return error(400, 21614, "'To' number is not a valid mobile number"),
            _ => {}
        }
        let sid = {
            let mut state = self.state.lock().unwrap();
            state.counter += 1;
            let sid = format!("SM{:032x}", (u128::from(state.counter) << 64) | u128::from(std::process::id()));
            state.messages.push(json!({"sid": sid, "to": to, "body": form.get("Body")}));
            sid
        };
        if let Some(callback) = form.get("StatusCallback").filter(|c| !c.is_empty()) {
            let statuses: &[(&str, Option<&str>)] = match to {
                "+15005550010" => &[("delivered", None), ("queued", None), ("sent", None)],
                "+15005550011" => &[("queued", None), ("failed", Some("30003"))],
                _ => &[("queued", None), ("sent", None), ("delivered", None)],
            };
            let callbacks: Vec<Vec<(String, String)>> = statuses
                .iter()
                .map(|(status, code)| {
                    let mut p = vec![
                        ("AccountSid".to_owned(), self.account_sid.clone()),
                        ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
                        ("MessageSid".to_owned(), sid.clone()),
                        ("SmsSid".to_owned(), sid.clone()),
                        ("MessageStatus".to_owned(), status.to_string()),
                        ("SmsStatus".to_owned(), status.to_string()),
                        ("To".to_owned(), to.to_owned()),
                    ];
                    if let Some(code) = code {
                        p.push(("ErrorCode".to_owned(), code.to_string()));
                    }
                    p
                })
                .collect();
            tokio::spawn(send_callbacks(callback.clone(), self.auth_token.clone(), callbacks));
        }
        json_reply(
            201,
            &json!({"sid": sid, "account_sid": self.account_sid, "to": to, "status": "queued", "num_segments": "1"}),
        )
    }
}

/// Posts each callback in turn, signed the way Twilio signs them.
async fn send_callbacks(url: String, token: String, callbacks: Vec<Vec<(String, String)>>) {
    let client = reqwest::Client::new();
    for (i, params) in callbacks.into_iter().enumerate() {
        tokio::time::sleep(if i == 0 { FIRST_CALLBACK_DELAY } else { CALLBACK_DELAY }).await;
        let sig = signature::compute(token.as_bytes(), &url, &params);
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let _ = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
            .send()
            .await;
    }
}

fn json_reply(status: u16, body: &Value) -> Reply {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response")
}

/// Twilio's error object.
fn error(status: u16, code: u32, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}
