//! Every HTTP function's handler, hosted in one process. Each function's `State` is built
//! once from the environment — exactly as its Lambda cold start would — and its `handle`
//! serves the requests the router sends it.
//!
//! Adding a function: add its crate to this package's dependencies and one line to
//! [`build`]. The test `every_template_route_has_a_local_handler` fails until you do.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use shared::config::ConfigError;
use shared::http::{Request, Response};

pub type Handler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;

/// Builds the state of function `$krate` and wraps its handler.
macro_rules! host {
    ($krate:ident) => {{
        let state = $krate::State::from_env().await?;
        let handler: Handler = Arc::new(move |req| {
            let state = state.clone();
            Box::pin(async move { $krate::handle(&state, req).await })
        });
        handler
    }};
}

/// The HTTP functions this binary can host, by crate name.
pub const HTTP_FUNCTIONS: &[&str] = &["health", "session-anonymous", "session-me"];

/// The handler of the function named `name` (its crate name under `functions/`).
pub async fn build(name: &str) -> Option<Result<Handler, ConfigError>> {
    let handler = async {
        Ok(match name {
            "health" => host!(health),
            "session-anonymous" => host!(session_anonymous),
            "session-me" => host!(session_me),
            _ => unreachable!("checked against HTTP_FUNCTIONS"),
        })
    };
    if HTTP_FUNCTIONS.contains(&name) { Some(handler.await) } else { None }
}

/// Handlers for every name in `names`; an unknown name or a bad setting is an error.
pub async fn build_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<String, Handler>, String> {
    let mut handlers = BTreeMap::new();
    for name in names {
        if handlers.contains_key(name) {
            continue;
        }
        match build(name).await {
            Some(Ok(h)) => {
                handlers.insert(name.to_owned(), h);
            }
            Some(Err(e)) => return Err(format!("{name}: configuration error: {e}")),
            None => {
                return Err(format!(
                    "functions/{name} has a route in the template but no handler in tools/local/src/registry.rs"
                ));
            }
        }
    }
    Ok(handlers)
}
