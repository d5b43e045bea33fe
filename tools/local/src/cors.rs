//! CORS the way API Gateway HTTP APIs apply it, from the same configuration: the
//! `CorsConfiguration` of the template's `AWS::Serverless::HttpApi`, its `!Ref`s resolved to
//! the parameters' defaults — except the allowed origins, which `PARLEY_CORS_ORIGINS`
//! replaces when set (`.local/stack.env` sets it; see scripts/lib.sh).
//!
//! Guarantees, as API Gateway gives them:
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an
//!   allowed origin is answered by the gateway (204) with the allowed methods, headers and
//!   max age; from any other origin it gets the same 204 without CORS headers, so the
//!   browser refuses the real request.
//! - Every other response to an allowed origin carries `Access-Control-Allow-Origin` and
//!   `Access-Control-Expose-Headers`, whatever its status: a 401, 404 or 429 the app cannot
//!   read would be a silent failure.
//! - CORS headers set by a function are dropped: API Gateway ignores them too.
//!
//! Origins are exact (`https://app.example.com`), `*`, or `scheme://*` as in API Gateway;
//! locally also `scheme://host:*` (any port), which API Gateway does not accept — it is
//! what lets a front-end dev server on any port call `make up`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_yaml_ng::Value;

use crate::template::Template;

/// Replaces the allowed origins locally: a comma-separated list.
pub const ORIGINS_ENV: &str = "PARLEY_CORS_ORIGINS";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Any,
    Exact(String),
    /// `https://*`: any origin of the scheme (`https://`).
    AnyOfScheme(String),
    /// `http://localhost:*`: any port of the host (`http://localhost:`). Local only.
    AnyPort(String),
}

impl Origin {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_end_matches('/').to_ascii_lowercase();
        if s == "*" {
            return Ok(Self::Any);
        }
        if let Some(scheme) = s.strip_suffix('*').filter(|p| p.ends_with("://")) {
            return Ok(Self::AnyOfScheme(scheme.to_owned()));
        }
        if let Some(host) = s.strip_suffix('*').filter(|p| p.ends_with(':') && p.contains("://")) {
            return Ok(Self::AnyPort(host.to_owned()));
        }
        if s.contains('*') || !s.contains("://") {
            return Err(format!(
                "CORS origin {s:?} is not scheme://host[:port], \"*\", \"scheme://*\" or \"scheme://host:*\""
            ));
        }
        Ok(Self::Exact(s))
    }

    fn matches(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        match self {
            Self::Any => true,
            Self::Exact(o) => *o == origin,
            Self::AnyOfScheme(scheme) => origin.starts_with(scheme.as_str()),
            Self::AnyPort(host) => origin
                .strip_prefix(host.as_str())
                .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())),
        }
    }
}

/// The API's CORS configuration.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<Origin>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    max_age: Option<u64>,
    allow_credentials: bool,
}

/// What the gateway does with a request, as far as CORS is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Preflight {
    /// Not a preflight: route it.
    No,
    /// A preflight: answer 204 with these headers (none for an origin that is not allowed).
    Answer(HeaderMap),
}

impl Cors {
    /// The template's CORS configuration; `None` when it has none or allows no origin
    /// (the template's `HasCorsOrigins` condition turns an empty list into no CORS at all).
    /// `origins_override` replaces the list `AllowOrigins` refers to.
    pub fn from_template(template: &Template, origins_override: Option<&str>) -> Result<Option<Self>, String> {
        let Some(config) = &template.http_api_cors else { return Ok(None) };
        let config = unwrap_if(config)?;
        let map = config.as_mapping().ok_or("CorsConfiguration is not a mapping")?;
        let mut cors = Cors {
            origins: Vec::new(),
            allow_methods: Vec::new(),
            allow_headers: Vec::new(),
            expose_headers: Vec::new(),
            max_age: None,
            allow_credentials: false,
        };
        for (key, value) in map {
            let key = key.as_str().ok_or("a CorsConfiguration key is not a string")?;
            match key {
                "AllowOrigins" => {
                    let origins = match (origins_override, value) {
                        (Some(list), Value::Tagged(t)) if t.tag == "!Ref" => split(list),
                        _ => list(template, key, value)?,
                    };
                    cors.origins = origins.iter().map(|o| Origin::parse(o)).collect::<Result<_, _>>()?;
                }
                "AllowMethods" => cors.allow_methods = list(template, key, value)?,
                "AllowHeaders" => cors.allow_headers = list(template, key, value)?,
                "ExposeHeaders" => cors.expose_headers = list(template, key, value)?,
                "MaxAge" => {
                    let age = scalar(template, key, value)?;
                    cors.max_age =
                        Some(age.parse().map_err(|_| format!("CorsConfiguration.MaxAge {age:?} is not seconds"))?);
                }
                "AllowCredentials" => {
                    cors.allow_credentials = match scalar(template, key, value)?.as_str() {
                        "true" => true,
                        "false" => false,
                        other => return Err(format!("CorsConfiguration.AllowCredentials {other:?} is not a boolean")),
                    }
                }
                other => return Err(format!("CorsConfiguration.{other} is not a SAM HttpApi CORS property")),
            }
        }
        // API Gateway (and SAM) refuse this combination; so does the local gateway.
        if cors.allow_credentials && cors.origins.contains(&Origin::Any) {
            return Err("CorsConfiguration: AllowCredentials cannot be true when AllowOrigins has \"*\"".into());
        }
        Ok((!cors.origins.is_empty()).then_some(cors))
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.matches(origin))
    }

    /// Whether `request` is a preflight, and if so the headers of the gateway's answer.
    pub fn preflight(&self, method: &http::Method, request: &HeaderMap) -> Preflight {
        if method != http::Method::OPTIONS || !request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return Preflight::No;
        }
        let Some(origin) = origin_of(request) else { return Preflight::No };
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        if let Some(allow_origin) = self.allow_origin(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
            insert_list(&mut headers, header::ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods);
            insert_list(&mut headers, header::ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers);
            if let Some(age) = self.max_age {
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
            }
            if self.allow_credentials {
                headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            }
        }
        Preflight::Answer(headers)
    }

    /// Adds the CORS headers to any response (errors included) for a request from an
    /// allowed origin, after dropping any a function set itself.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let names: Vec<HeaderName> =
            response.keys().filter(|n| n.as_str().starts_with("access-control-")).cloned().collect();
        for name in names {
            response.remove(name);
        }
        let Some(origin) = origin_of(request) else { return };
        response.append(header::VARY, HeaderValue::from_static("origin"));
        let Some(allow_origin) = self.allow_origin(origin) else { return };
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        insert_list(response, header::ACCESS_CONTROL_EXPOSE_HEADERS, &self.expose_headers);
        if self.allow_credentials {
            response.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
    }

    /// `*` when any origin may call without credentials; else the caller's own origin.
    fn allow_origin(&self, origin: &str) -> Option<HeaderValue> {
        if !self.allows(origin) {
            return None;
        }
        if self.origins.contains(&Origin::Any) && !self.allow_credentials {
            return Some(HeaderValue::from_static("*"));
        }
        HeaderValue::from_str(origin).ok()
    }
}

fn origin_of(request: &HeaderMap) -> Option<&str> {
    request.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn insert_list(headers: &mut HeaderMap, name: HeaderName, values: &[String]) {
    if let Ok(v) = HeaderValue::from_str(&values.join(", "))
        && !values.is_empty()
    {
        headers.insert(name, v);
    }
}

/// `!If [HasCorsOrigins, {…}, !Ref AWS::NoValue]` → `{…}`; a plain mapping as it is.
fn unwrap_if(config: &Value) -> Result<&Value, String> {
    let Value::Tagged(tagged) = config else { return Ok(config) };
    let branches = tagged.value.as_sequence().filter(|_| tagged.tag == "!If");
    match branches.map(Vec::as_slice) {
        Some([_condition, then, otherwise]) if is_no_value(otherwise) => Ok(then),
        _ => Err("CorsConfiguration must be a mapping or !If [condition, mapping, !Ref AWS::NoValue]".into()),
    }
}

fn is_no_value(v: &Value) -> bool {
    matches!(v, Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::NoValue"))
}

/// A list, literal or `!Ref` to a `CommaDelimitedList` parameter (its default).
fn list(template: &Template, key: &str, value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(|i| scalar_text(i).ok_or_else(|| format!("CorsConfiguration.{key} has a non-string item")))
            .collect(),
        _ => Ok(split(&scalar(template, key, value)?)),
    }
}

/// A scalar, literal or `!Ref` to a parameter (its default).
fn scalar(template: &Template, key: &str, value: &Value) -> Result<String, String> {
    if let Value::Tagged(t) = value
        && t.tag == "!Ref"
    {
        let name = t.value.as_str().ok_or_else(|| format!("CorsConfiguration.{key}: !Ref of a non-string"))?;
        return template
            .parameter_defaults
            .get(name)
            .cloned()
            .ok_or_else(|| format!("CorsConfiguration.{key} refers to {name}, a parameter without a Default"));
    }
    scalar_text(value).ok_or_else(|| format!("CorsConfiguration.{key} is not a scalar, a list or a !Ref"))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn split(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  CorsOrigins: {Type: CommaDelimitedList, Default: "https://app.example.com"}
Conditions:
  HasCorsOrigins: !Not [!Equals [!Join ["", !Ref CorsOrigins], ""]]
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: !If
        - HasCorsOrigins
        - AllowOrigins: !Ref CorsOrigins
          AllowMethods: [GET, POST]
          AllowHeaders: [authorization, content-type]
          ExposeHeaders: [x-request-id]
          MaxAge: 600
          AllowCredentials: false
        - !Ref AWS::NoValue
"#;

    fn cors(origins_override: Option<&str>) -> Option<Cors> {
        Cors::from_template(&Template::parse(TEMPLATE).unwrap(), origins_override).unwrap()
    }

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn the_origins_default_to_the_parameter_and_the_override_replaces_them() {
        // GIVEN the template's default origin WHEN nothing overrides it THEN only it is allowed
        let default = cors(None).unwrap();
        assert!(default.allows("https://app.example.com"));
        assert!(!default.allows("http://localhost:5173"));
        // GIVEN PARLEY_CORS_ORIGINS WHEN set THEN it replaces the list
        let local = cors(Some("http://localhost:*, http://127.0.0.1:*")).unwrap();
        assert!(local.allows("http://localhost:5173"));
        assert!(local.allows("http://127.0.0.1:8080"));
        assert!(!local.allows("https://app.example.com"));
    }

    #[test]
    fn an_empty_origin_list_means_no_cors_as_the_templates_condition_says() {
        assert!(cors(Some(" ")).is_none());
    }

    #[test]
    fn origin_patterns_match_like_api_gateway_plus_a_local_port_wildcard() {
        let c = cors(Some("https://*, http://localhost:*, http://app.test:8080")).unwrap();
        assert!(c.allows("https://anything.example"));
        assert!(c.allows("HTTP://LOCALHOST:3001"), "origins compare case-insensitively");
        assert!(c.allows("http://app.test:8080"));
        assert!(!c.allows("http://localhost"), "a port wildcard needs a port");
        assert!(!c.allows("http://localhost:80x"));
        assert!(!c.allows("http://localhost.evil.example:80"));
        assert!(!c.allows("http://app.test:8081"));
        assert!(!c.allows("null"));
    }

    #[test]
    fn an_unsupported_wildcard_is_refused_at_start() {
        let err = Cors::from_template(&Template::parse(TEMPLATE).unwrap(), Some("http://*.example.com")).unwrap_err();
        assert!(err.contains("http://*.example.com"), "{err}");
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_gets_the_configured_headers() {
        let c = cors(None).unwrap();
        let req = request(&[("origin", "https://app.example.com"), ("access-control-request-method", "POST")]);
        let Preflight::Answer(h) = c.preflight(&http::Method::OPTIONS, &req) else { panic!("not a preflight") };
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(h["access-control-allow-methods"], "GET, POST");
        assert_eq!(h["access-control-allow-headers"], "authorization, content-type");
        assert_eq!(h["access-control-max-age"], "600");
        assert!(!h.contains_key("access-control-allow-credentials"));
    }

    #[test]
    fn a_preflight_from_another_origin_gets_no_cors_headers() {
        let c = cors(None).unwrap();
        let req = request(&[("origin", "https://evil.example"), ("access-control-request-method", "POST")]);
        let Preflight::Answer(h) = c.preflight(&http::Method::OPTIONS, &req) else { panic!("not a preflight") };
        assert!(!h.contains_key("access-control-allow-origin"));
        assert!(!h.contains_key("access-control-allow-methods"));
    }

    #[test]
    fn options_without_origin_and_request_method_is_not_a_preflight() {
        let c = cors(None).unwrap();
        assert_eq!(
            c.preflight(&http::Method::OPTIONS, &request(&[("origin", "https://app.example.com")])),
            Preflight::No
        );
        assert_eq!(
            c.preflight(&http::Method::OPTIONS, &request(&[("access-control-request-method", "GET")])),
            Preflight::No
        );
        let both = request(&[("origin", "https://app.example.com"), ("access-control-request-method", "GET")]);
        assert_eq!(c.preflight(&http::Method::GET, &both), Preflight::No);
    }

    #[test]
    fn responses_to_an_allowed_origin_carry_cors_headers_and_drop_the_functions_own() {
        let c = cors(None).unwrap();
        let mut resp = request(&[("access-control-allow-origin", "*"), ("x-request-id", "r1")]);
        c.decorate(&request(&[("origin", "https://app.example.com")]), &mut resp);
        assert_eq!(resp["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(resp["access-control-expose-headers"], "x-request-id");
        assert_eq!(resp["vary"], "origin");

        let mut other = request(&[("access-control-allow-origin", "*")]);
        c.decorate(&request(&[("origin", "https://evil.example")]), &mut other);
        assert!(!other.contains_key("access-control-allow-origin"), "a function cannot widen CORS");
    }

    #[test]
    fn credentials_with_any_origin_are_refused() {
        let t = TEMPLATE.replace("AllowCredentials: false", "AllowCredentials: true");
        let err = Cors::from_template(&Template::parse(&t).unwrap(), Some("*")).unwrap_err();
        assert!(err.contains("AllowCredentials"), "{err}");
    }

    #[test]
    fn the_repository_template_allows_local_dev_servers_with_the_stack_env_default() {
        let t = Template::load(&crate::template_path()).unwrap();
        let c =
            Cors::from_template(&t, Some("http://localhost:*,http://127.0.0.1:*")).unwrap().expect("CORS configured");
        assert!(c.allows("http://localhost:5173"));
        assert!(!c.allows("http://127.0.0.2:5173"));
        // Deployed with no CorsOrigins, a stage allows no browser at all.
        assert!(Cors::from_template(&t, None).unwrap().is_none());
    }
}
