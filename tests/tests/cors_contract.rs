//! The HttpApi's CORS configuration (infra/template.yaml) covers what infra/openapi.yaml
//! says each route accepts and answers: a method, a header or a response header the
//! configuration forgot is a route a browser cannot call, or a header it cannot read.
//! Webhook routes (`/webhooks/…`) are for Stripe and Twilio, not browsers, and are skipped.

use std::collections::BTreeSet;

use parley_e2e::*;
use parley_local::template::Template;
use serde_yaml_ng::Value;

fn template() -> Template {
    Template::load(&repo().join("infra/template.yaml")).expect("the template parses")
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(repo().join("infra/openapi.yaml")).expect("infra/openapi.yaml exists");
    serde_yaml_ng::from_str(&text).expect("the OpenAPI document parses")
}

/// The CorsConfiguration mapping (the `then` of its `!If`).
fn cors() -> Value {
    let config = template().http_api_cors.expect("the HttpApi has a CorsConfiguration");
    match config {
        Value::Tagged(t) if t.tag == "!If" => t.value.as_sequence().expect("!If [c, then, else]")[1].clone(),
        other => other,
    }
}

fn lowercase_list(config: &Value, key: &str) -> BTreeSet<String> {
    config[key]
        .as_sequence()
        .unwrap_or_else(|| panic!("CorsConfiguration.{key} is a literal list"))
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect()
}

/// Follows a local `$ref` (`#/components/...`) once.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r.trim_start_matches("#/").split('/').fold(spec, |node, key| &node[key]),
        None => v,
    }
}

/// The request headers a browser sends to call `op` as the spec describes it.
fn request_headers(spec: &Value, path_item: &Value, op: &Value) -> BTreeSet<String> {
    let mut headers = BTreeSet::new();
    let params = path_item["parameters"].as_sequence().into_iter().chain(op["parameters"].as_sequence()).flatten();
    for p in params.map(|p| resolve(spec, p)) {
        if p["in"] == "header" {
            headers.insert(p["name"].as_str().unwrap().to_ascii_lowercase());
        }
    }
    let security = if op["security"].is_null() { &spec["security"] } else { &op["security"] };
    for requirement in security.as_sequence().into_iter().flatten() {
        for (scheme, _) in requirement.as_mapping().into_iter().flatten() {
            let scheme = &spec["components"]["securitySchemes"][scheme.as_str().unwrap()];
            match (scheme["type"].as_str(), scheme["in"].as_str()) {
                (Some("http"), _) => headers.insert("authorization".into()),
                (Some("apiKey"), Some("header")) => {
                    headers.insert(scheme["name"].as_str().unwrap().to_ascii_lowercase())
                }
                other => panic!("security scheme {other:?} is not one a browser sends as a header"),
            };
        }
    }
    if !op["requestBody"].is_null() {
        headers.insert("content-type".into());
    }
    headers
}

#[test]
fn every_routes_method_and_request_headers_are_allowed() {
    // GIVEN the CORS configuration and the spec
    let config = cors();
    let methods = lowercase_list(&config, "AllowMethods");
    let allowed_headers = lowercase_list(&config, "AllowHeaders");
    let spec = openapi();
    let mut checked = 0;
    // WHEN each browser route is compared with what its operation accepts
    for (_, route) in template().routes().filter(|(_, r)| !r.path.starts_with("/webhooks/")) {
        let path_item = &spec["paths"][route.path.as_str()];
        let op = &path_item[route.method.to_ascii_lowercase().as_str()];
        assert!(!op.is_null(), "{} is not in infra/openapi.yaml", route.key());
        // THEN its method and every header it takes are allowed
        assert!(methods.contains(&route.method.to_ascii_lowercase()), "{}: method not in AllowMethods", route.key());
        let missing: Vec<_> = request_headers(&spec, path_item, op).difference(&allowed_headers).cloned().collect();
        assert!(missing.is_empty(), "{}: {missing:?} missing from CorsConfiguration.AllowHeaders", route.key());
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} routes checked");
}

#[test]
fn the_request_header_rule_sees_bodies_security_and_header_parameters() {
    // GIVEN the cart's add-item operation (a body, both credentials, an Idempotency-Key)
    let spec = openapi();
    let path_item = &spec["paths"]["/v1/cart/items"];
    // THEN all four headers are derived, so the coverage test cannot pass vacuously
    let headers = request_headers(&spec, path_item, &path_item["post"]);
    let expected: BTreeSet<String> =
        ["authorization", "content-type", "idempotency-key", "x-anonymous-session"].map(String::from).into();
    assert_eq!(headers, expected);
}

/// Response headers a browser lets any cross-origin page read (Fetch standard).
const SAFELISTED: &[&str] =
    &["cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"];

#[test]
fn every_response_header_the_spec_declares_is_exposed() {
    let exposed = lowercase_list(&cors(), "ExposeHeaders");
    let spec = openapi();
    let mut declared = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        if path.as_str().unwrap().starts_with("/webhooks/") {
            continue;
        }
        for (_, op) in item.as_mapping().unwrap() {
            for (_, response) in op["responses"].as_mapping().into_iter().flatten() {
                for (name, _) in resolve(&spec, response)["headers"].as_mapping().into_iter().flatten() {
                    declared.insert(name.as_str().unwrap().to_ascii_lowercase());
                }
            }
        }
    }
    assert!(declared.contains("x-request-id") && declared.contains("retry-after"), "{declared:?}");
    let hidden: Vec<_> =
        declared.iter().filter(|h| !exposed.contains(*h) && !SAFELISTED.contains(&h.as_str())).collect();
    assert!(hidden.is_empty(), "{hidden:?} missing from CorsConfiguration.ExposeHeaders");
    // The ones clients act on even where the spec does not list them per response.
    for h in ["x-request-id", "retry-after", "idempotent-replayed"] {
        assert!(exposed.contains(h), "{h} is not exposed");
    }
}

#[test]
fn credentials_are_never_allowed_and_deployed_origins_are_exact() {
    // Parley's credentials are headers, never cookies: credentialed CORS is never needed.
    assert_eq!(cors()["AllowCredentials"], Value::Bool(false));
    // API Gateway has no port wildcard: the stage default must not rely on the local one.
    let default = template().parameter_defaults.get("CorsOrigins").cloned().expect("CorsOrigins has a Default");
    assert!(!default.contains(":*") && !default.split(',').any(|o| o.trim() == "*"), "{default}");
}
