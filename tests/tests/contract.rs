//! The parts that must move together: every function crate is deployed by the template,
//! every template route is in the OpenAPI spec, hosted by the local gateway, and has a
//! sample event; every sample event goes through its handler with the expected status.

use std::collections::BTreeSet;

use lambda_http::Body;
use parley_e2e::*;
use parley_local::template::Template;

fn template() -> Template {
    Template::load(&repo().join("infra/template.yaml")).expect("the template parses")
}

fn openapi() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(repo().join("infra/openapi.yaml")).expect("infra/openapi.yaml exists");
    serde_yaml_ng::from_str(&text).expect("the OpenAPI document parses")
}

#[test]
fn every_function_crate_is_in_the_template() {
    let deployed: BTreeSet<String> = template().functions.iter().map(|f| f.name.clone()).collect();
    for dir in std::fs::read_dir(repo().join("functions")).unwrap() {
        let name = dir.unwrap().file_name().to_string_lossy().into_owned();
        assert!(deployed.contains(&name), "functions/{name} is not deployed by infra/template.yaml");
    }
}

#[test]
fn every_template_route_is_in_the_openapi_spec() {
    let spec = openapi();
    assert!(spec["openapi"].as_str().unwrap_or_default().starts_with("3.1"), "OpenAPI 3.1 expected");
    let paths = &spec["paths"];
    let mut missing = Vec::new();
    for (_, route) in template().routes() {
        let op = &paths[route.path.as_str()][route.method.to_ascii_lowercase().as_str()];
        if op.is_null() {
            missing.push(route.key());
            continue;
        }
        assert!(op["responses"].as_mapping().is_some_and(|r| !r.is_empty()), "{} has no responses", route.key());
    }
    assert!(missing.is_empty(), "routes missing from infra/openapi.yaml: {missing:?}");
}

#[test]
fn every_openapi_operation_is_a_template_route() {
    let routes: BTreeSet<String> = template().routes().map(|(_, r)| r.key()).collect();
    let spec = openapi();
    for (path, ops) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in ops.as_mapping().unwrap() {
            let key = format!("{} {}", method.as_str().unwrap().to_ascii_uppercase(), path.as_str().unwrap());
            if key == "GET /openapi.yaml" {
                continue; // served by the local gateway itself
            }
            assert!(routes.contains(&key), "{key} is in the OpenAPI spec but not in the template");
        }
    }
}

#[tokio::test]
async fn every_template_route_has_a_local_handler() {
    for (function, route) in template().routes() {
        let built = parley_local::registry::build(&function.name).await;
        assert!(built.is_some(), "{} ({}) has no handler in tools/local/src/registry.rs", route.key(), function.name);
        built.unwrap().unwrap_or_else(|e| panic!("{}: {e}", function.name));
    }
}

#[test]
fn every_function_has_sample_events() {
    for f in template().functions {
        let dir = repo().join("events").join(&f.name);
        let count = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(count > 0, "events/{} has no sample event", f.name);
    }
}

/// `events/<function>/<case>.<status>.json`: an API Gateway v2 event and the status its
/// handler must answer with.
#[tokio::test]
async fn every_sample_http_event_gets_its_expected_status() {
    let mut checked = 0;
    for f in template().functions.iter().filter(|f| !f.routes.is_empty()) {
        let handler = parley_local::registry::build(&f.name).await.expect("hosted").expect("configured");
        for entry in std::fs::read_dir(repo().join("events").join(&f.name)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let expected: u16 = name
                .trim_end_matches(".json")
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("events/{}/{name} must be named <case>.<status>.json", f.name));
            let text = std::fs::read_to_string(&path).unwrap();
            let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let response = handler(request).await;
            let body = match response.body() {
                Body::Text(t) => t.clone(),
                _ => String::new(),
            };
            assert_eq!(response.status().as_u16(), expected, "events/{}/{name}: {body}", f.name);
            assert!(response.headers().contains_key("x-request-id"));
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} sample events were checked");
}

#[tokio::test]
async fn every_job_runs_with_its_sample_event() {
    for f in template().functions.iter().filter(|f| f.routes.is_empty()) {
        assert!(
            parley_local::registry::JOB_FUNCTIONS.contains(&f.name.as_str()),
            "{} has no route and is not a job `parley-local invoke` can run",
            f.name
        );
        for entry in std::fs::read_dir(repo().join("events").join(&f.name)).unwrap() {
            let path = entry.unwrap().path();
            let payload: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let result = parley_local::registry::invoke(&f.name, payload).await;
            assert!(result.is_ok(), "{}: {result:?}", path.display());
        }
    }
}

#[tokio::test]
async fn the_migrate_sample_event_runs_the_migrate_handler() {
    let text = std::fs::read_to_string(repo().join("events/migrate/deploy.json")).unwrap();
    let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    let state = migrate::State::from_env().await.unwrap();
    let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
    let report = migrate::handle(&state, event).await.expect("migrations are idempotent");
    // The stack was migrated before the tests started: nothing is pending.
    assert!(report.applied.is_empty(), "{:?}", report.applied);
}
