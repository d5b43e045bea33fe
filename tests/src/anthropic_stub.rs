//! A local HTTP server that speaks Anthropic's Messages API wire format
//! (`POST /v1/messages`), scripted by the test: a verdict, malformed output, a slow answer,
//! or an error status. It counts calls and keeps the last request body so tests can check
//! what would have left Parley.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this verdict object as the model's text.
    Verdict(Value),
    /// 200 with this raw model text (malformed verdicts).
    Text(String),
    /// This status with an Anthropic error body, and `retry-after` seconds when given.
    Status(u16, Option<u64>),
    /// Answer after this long (a timeout on the client side).
    Slow(Duration),
}

#[derive(Clone)]
pub struct AnthropicStub {
    pub url: String,
    calls: Arc<AtomicUsize>,
    script: Arc<Mutex<VecDeque<Behaviour>>>,
    fallback: Arc<Mutex<Behaviour>>,
    last_request: Arc<Mutex<Option<Value>>>,
    last_api_key: Arc<Mutex<Option<String>>>,
}

/// A low-conflict verdict.
pub fn calm_verdict() -> Value {
    json!({"is_hostile": false, "conflict_level": "low", "indicators": [], "neutral_rewrite": null})
}

impl AnthropicStub {
    /// Starts on a free loopback port; answers with `behaviour` until told otherwise.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stub = Self {
            url: format!("http://{}", listener.local_addr().unwrap()),
            calls: Arc::default(),
            script: Arc::default(),
            fallback: Arc::new(Mutex::new(behaviour)),
            last_request: Arc::default(),
            last_api_key: Arc::default(),
        };
        let server = stub.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let stub = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let stub = stub.clone();
                        async move { Ok::<_, Infallible>(stub.answer(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        stub
    }

    /// The next answers, in order, before falling back to the standing behaviour.
    pub fn then(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.script.lock().unwrap().extend(behaviours);
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.fallback.lock().unwrap() = behaviour;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn last_request(&self) -> Value {
        self.last_request.lock().unwrap().clone().unwrap_or(Value::Null)
    }

    /// The `x-api-key` of the last request.
    pub fn last_api_key(&self) -> Option<String> {
        self.last_api_key.lock().unwrap().clone()
    }

    async fn answer(&self, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let authorised = req.headers().get("x-api-key").is_some() && req.headers().get("anthropic-version").is_some();
        *self.last_api_key.lock().unwrap() =
            req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let path_ok = req.method() == "POST" && req.uri().path() == "/v1/messages";
        let body: Value =
            serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes()).unwrap_or(Value::Null);
        *self.last_request.lock().unwrap() = Some(body.clone());
        if !authorised || !path_ok || body["model"].is_null() || body["max_tokens"].is_null() {
            return respond(
                401,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "bad request shape"}}),
                None,
            );
        }
        let behaviour =
            self.script.lock().unwrap().pop_front().unwrap_or_else(|| self.fallback.lock().unwrap().clone());
        match behaviour {
            Behaviour::Verdict(v) => respond(200, message(&v.to_string()), None),
            Behaviour::Text(t) => respond(200, message(&t), None),
            Behaviour::Status(status, retry_after) => {
                let kind = if status == 429 { "rate_limit_error" } else { "overloaded_error" };
                respond(
                    status,
                    json!({"type": "error", "error": {"type": kind, "message": "stub says no"}}),
                    retry_after,
                )
            }
            Behaviour::Slow(d) => {
                tokio::time::sleep(d).await;
                respond(200, message(&calm_verdict().to_string()), None)
            }
        }
    }
}

fn message(text: &str) -> Value {
    json!({
        "id": "msg_stub", "type": "message", "role": "assistant", "model": "stub-model",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 120, "output_tokens": 60},
    })
}

fn respond(status: u16, body: Value, retry_after: Option<u64>) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(status).header("content-type", "application/json");
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}
