//! The local gateway: one HTTP/1.1 server on loopback that routes by the template, turns
//! each request into an API Gateway v2 event and calls the function's handler in-process.
//!
//! Like API Gateway: unknown routes are 404 (here as problem+json), bodies over 10 MB are
//! 413, the handler's response is returned as-is, and CORS is applied from the template's
//! `CorsConfiguration` (see [`crate::cors`]): preflights are answered here, and every
//! response to an allowed origin, errors included, carries the CORS headers. It also serves
//! the OpenAPI document at `/openapi.yaml`.
//!
//! `OPTIONS` that is not a preflight: on a path some route serves, 204 with `Allow` naming
//! its methods (RFC 9110 §9.3.7: OPTIONS asks what the resource supports); on any other
//! path, 404 like every unknown route. Other methods a path does not serve stay 404, as in
//! API Gateway.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming as HyperBody};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use shared::ApiError;
use tokio::net::TcpListener;

use crate::cors::{Cors, Preflight};
use crate::event::{self, Incoming};
use crate::registry::Handler;
use crate::router::Router;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Gateway {
    router: Router,
    handlers: BTreeMap<String, Handler>,
    openapi: Option<String>,
    cors: Option<Cors>,
}

/// Served by the gateway itself rather than a route.
const OPENAPI_PATH: &str = "/openapi.yaml";

impl Gateway {
    pub fn new(
        router: Router,
        handlers: BTreeMap<String, Handler>,
        openapi: Option<String>,
        cors: Option<Cors>,
    ) -> Arc<Self> {
        Arc::new(Self { router, handlers, openapi, cors })
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
                },
                () = &mut shutdown => return,
            };
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.dispatch(req, peer).await) }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
            });
        }
    }

    async fn dispatch(&self, req: hyper::Request<HyperBody>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
        let request_id = uuid::Uuid::now_v7().to_string();
        let Some(cors) = &self.cors else { return self.respond(req, peer, &request_id).await };
        if let Preflight::Answer(headers) = cors.preflight(req.method(), req.headers())
            && !self.methods(req.uri().path()).is_empty()
        {
            let mut resp = no_content(&request_id);
            resp.headers_mut().extend(headers);
            return resp;
        }
        let request_headers = req.headers().clone();
        let mut resp = self.respond(req, peer, &request_id).await;
        cors.decorate(&request_headers, resp.headers_mut());
        resp
    }

    /// The methods served on `path`, the gateway's own document included.
    fn methods(&self, path: &str) -> Vec<&str> {
        if path == OPENAPI_PATH && self.openapi.is_some() {
            return vec!["GET"];
        }
        self.router.methods(path)
    }

    async fn respond(
        &self,
        req: hyper::Request<HyperBody>,
        peer: SocketAddr,
        request_id: &str,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let method = parts.method.as_str().to_owned();

        if method == "OPTIONS" {
            let methods = self.methods(&path);
            if methods.is_empty() {
                return problem(&ApiError::not_found(format!("no route for {method} {path}")), request_id);
            }
            let mut resp = no_content(request_id);
            let allow = methods.into_iter().chain(["OPTIONS"]).collect::<Vec<_>>().join(", ");
            resp.headers_mut().insert(hyper::header::ALLOW, allow.parse().expect("method names are valid header text"));
            return resp;
        }
        if method == "GET"
            && path == OPENAPI_PATH
            && let Some(spec) = &self.openapi
        {
            return hyper::Response::builder()
                .header("content-type", "application/yaml")
                .body(Full::new(Bytes::from(spec.clone())))
                .expect("static response");
        }
        let Some(found) = self.router.find(&method, &path) else {
            // A path that exists under other methods is a 405 naming them, as the spec says.
            let allowed = self.methods(&path);
            if allowed.is_empty() {
                return problem(&ApiError::not_found(format!("no route for {method} {path}")), request_id);
            }
            let allow = allowed.join(", ");
            let err =
                ApiError::method_not_allowed(format!("{path} allows {allow}")).with_header(http::header::ALLOW, allow);
            return problem(&err, request_id);
        };
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return problem(&ApiError::payload_too_large("the body exceeds 10 MB"), request_id),
        };
        let route_key = found.entry.route.key();
        let incoming = Incoming {
            route_key: &route_key,
            method: &method,
            path: &path,
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            path_params: &found.params,
            request_id,
            source_ip: &peer.ip().to_string(),
        };
        let request = match event::to_request(&event::v2_event(&incoming)) {
            Ok(r) => r,
            Err(e) => return problem(&ApiError::bad_request(e), request_id),
        };
        let handler = &self.handlers[&found.entry.function];
        to_hyper(handler(request).await)
    }
}

/// 204 with the request id, for the answers the gateway gives itself.
fn no_content(request_id: &str) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(hyper::StatusCode::NO_CONTENT)
        .header("x-request-id", request_id)
        .body(Full::new(Bytes::new()))
        .expect("static response")
}

fn problem(err: &ApiError, request_id: &str) -> hyper::Response<Full<Bytes>> {
    let _span = tracing::info_span!("request", function = "gateway", request_id).entered();
    let mut resp = to_hyper(shared::platform::http::problem_response(err, request_id));
    resp.headers_mut().insert("x-request-id", request_id.parse().expect("uuid is a valid header"));
    resp
}

fn to_hyper(resp: shared::platform::http::Response) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
