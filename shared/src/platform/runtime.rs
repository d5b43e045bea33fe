//! Cold-start wiring and the Lambda loop, shared by every `main.rs`.
//!
//! Guarantees: telemetry is initialised first; the state is built once, before the first
//! event; a configuration error exits the process with one line naming the setting (Lambda
//! reports it as an init failure) instead of serving broken requests.
//!
//! Why [`run_http`] and [`run_job`] rather than `lambda_http::run` in each `main.rs`: the
//! Lambda loop (lambda_runtime, hyper's client, tokio's runtime) is generic over the handler,
//! so every binary compiled its own copy: a third of each function's release compile time,
//! for 33 functions and two targets. Here the loop is compiled once, in this crate, over a boxed
//! handler ([`run_http_boxed`], [`run_job_boxed`] are not generic); a binary compiles only
//! its own handler and the few lines that box it. The cost at run time is one allocation
//! and one indirect call per event.

use std::future::Future;
use std::pin::Pin;

use crate::platform::http::{Request, Response};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::platform::config::ConfigError;

pub use lambda_runtime::Error;

/// One request's response, boxed so the loop below need not know the handler's future type.
pub type HttpFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// An HTTP function's handler once its state is built.
pub type HttpHandler = Box<dyn Fn(Request) -> HttpFuture>;

/// One job run's report as JSON, boxed (see [`HttpFuture`]).
pub type JobFuture = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

/// A job's (or queue consumer's) handler once its state is built.
pub type JobHandler = Box<dyn Fn(LambdaEvent<Value>) -> JobFuture>;

/// Initialises logging and builds the function's state, or exits naming the bad setting.
pub async fn start<S>(function: &'static str, build: impl AsyncFnOnce() -> Result<S, ConfigError>) -> S {
    crate::platform::telemetry::init();
    crate::platform::config::exit_on_error(function, build().await)
}

/// [`start`], for the rest of the process: the state is leaked once, so each event's future
/// can borrow it for `'static` and be boxed.
async fn start_for_process<S: 'static>(
    function: &'static str,
    build: impl AsyncFnOnce() -> Result<S, ConfigError>,
) -> &'static S {
    Box::leak(Box::new(start(function, build).await))
}

/// Runs an HTTP function (API Gateway HTTP API events): `build` makes the state once, then
/// `handle` answers each request. The whole of a function's `main`:
///
/// ```ignore
/// use cart_get::{FUNCTION, State, handle};
///
/// fn main() -> Result<(), shared::platform::runtime::Error> {
///     shared::platform::runtime::run_http(FUNCTION, State::from_env, handle)
/// }
/// ```
pub fn run_http<S, F, Fut>(
    function: &'static str,
    build: impl AsyncFnOnce() -> Result<S, ConfigError> + 'static,
    handle: F,
) -> Result<(), Error>
where
    S: Sync + 'static,
    F: Fn(&'static S, Request) -> Fut + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    run_http_boxed(Box::pin(async move {
        let state = start_for_process(function, build).await;
        Box::new(move |req| Box::pin(handle(state, req)) as HttpFuture) as HttpHandler
    }))
}

/// Runs a job or queue consumer (any JSON event): `build` makes the state once, then `handle`
/// runs once per event and its report is the invocation's response.
pub fn run_job<S, F, Fut, R>(
    function: &'static str,
    build: impl AsyncFnOnce() -> Result<S, ConfigError> + 'static,
    handle: F,
) -> Result<(), Error>
where
    S: Sync + 'static,
    F: Fn(&'static S, LambdaEvent<Value>) -> Fut + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    R: Serialize,
{
    run_job_boxed(Box::pin(async move {
        let state = start_for_process(function, build).await;
        Box::new(move |event| {
            let report = handle(state, event);
            Box::pin(async move { Ok(serde_json::to_value(report.await?)?) }) as JobFuture
        }) as JobHandler
    }))
}

/// The HTTP loop, compiled once: a current-thread runtime (Lambda sends one event at a time),
/// the handler's initialisation, then lambda_http's loop.
pub fn run_http_boxed(init: Pin<Box<dyn Future<Output = HttpHandler>>>) -> Result<(), Error> {
    runtime()?.block_on(async move {
        let handler = init.await;
        lambda_http::run(lambda_http::service_fn(move |req| {
            let response = handler(req);
            async move { Ok::<_, Error>(response.await) }
        }))
        .await
    })
}

/// The job loop, compiled once (see [`run_http_boxed`]).
pub fn run_job_boxed(init: Pin<Box<dyn Future<Output = JobHandler>>>) -> Result<(), Error> {
    runtime()?.block_on(async move {
        let handler = init.await;
        lambda_runtime::run(lambda_runtime::service_fn(handler)).await
    })
}

/// What `#[tokio::main(flavor = "current_thread")]` builds.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
