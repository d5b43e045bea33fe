//! Matches a request to a template route the way API Gateway HTTP APIs do: literal
//! segments beat `{param}` segments, which beat a greedy `{proxy+}`; the method must match
//! (or the route says `ANY`).

use std::collections::BTreeMap;

use crate::template::{Route, Template};

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub function: String,
    pub route: Route,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    entries: Vec<Entry>,
}

/// A matched route with its path parameters.
#[derive(Debug)]
pub struct Match<'a> {
    pub entry: &'a Entry,
    pub params: BTreeMap<String, String>,
}

impl Router {
    pub fn from_template(template: &Template) -> Self {
        let mut entries: Vec<Entry> = template
            .routes()
            .map(|(f, r)| Entry { function: f.name.clone(), route: r.clone(), segments: parse(&r.path) })
            .collect();
        // Most specific first: more literal segments, then no greedy segment.
        entries.sort_by_key(|e| {
            let literals = e.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
            let greedy = e.segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
            (std::cmp::Reverse(literals), greedy)
        });
        Self { entries }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The methods the routes matching `path` serve, sorted; empty for an unknown path.
    pub fn methods(&self, path: &str) -> Vec<&str> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut methods: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| matches(&e.segments, &parts).is_some())
            .map(|e| e.route.method.as_str())
            .collect();
        methods.sort_unstable();
        methods.dedup();
        methods
    }

    pub fn find(&self, method: &str, path: &str) -> Option<Match<'_>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.entries.iter().find_map(|entry| {
            if entry.route.method != method && entry.route.method != "ANY" {
                return None;
            }
            matches(&entry.segments, &parts).map(|params| Match { entry, params })
        })
    }
}

fn parse(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if name.ends_with('+') => Segment::Greedy(name.trim_end_matches('+').to_owned()),
            Some(name) => Segment::Param(name.to_owned()),
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                let rest = parts.get(i..).filter(|r| !r.is_empty() && !r[0].is_empty())?;
                params.insert(name.clone(), decode(&rest.join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if parts.get(i)? != lit {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = parts.get(i).filter(|p| !p.is_empty())?;
                params.insert(name.clone(), decode(part));
            }
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

/// Path parameters arrive percent-decoded, as API Gateway delivers them.
fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str, &str)]) -> Router {
        let yaml = routes
            .iter()
            .enumerate()
            .map(|(i, (f, m, p))| {
                format!("  F{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: ../functions/{f}\n      Events:\n        E:\n          Type: HttpApi\n          Properties: {{Method: {m}, Path: \"{p}\"}}\n")
            })
            .collect::<String>();
        Router::from_template(&Template::parse(&format!("Resources:\n{yaml}")).unwrap())
    }

    #[test]
    fn a_literal_route_beats_a_parameter_route() {
        let r = router(&[("by-id", "GET", "/v1/items/{id}"), ("mine", "GET", "/v1/items/me")]);
        assert_eq!(r.find("GET", "/v1/items/me").unwrap().entry.function, "mine");
        let m = r.find("GET", "/v1/items/42").unwrap();
        assert_eq!(m.entry.function, "by-id");
        assert_eq!(m.params["id"], "42");
    }

    #[test]
    fn the_method_must_match() {
        let r = router(&[("get", "GET", "/health")]);
        assert!(r.find("POST", "/health").is_none());
        assert!(r.find("GET", "/health").is_some());
    }

    #[test]
    fn the_methods_of_a_path_are_those_of_every_route_matching_it() {
        let r = router(&[
            ("get", "GET", "/v1/items/{id}"),
            ("del", "DELETE", "/v1/items/{id}"),
            ("me", "GET", "/v1/items/me"),
        ]);
        assert_eq!(r.methods("/v1/items/42"), vec!["DELETE", "GET"]);
        assert_eq!(r.methods("/v1/items/me"), vec!["DELETE", "GET"]);
        assert!(r.methods("/v1/nothing").is_empty());
    }

    #[test]
    fn extra_or_missing_segments_do_not_match() {
        let r = router(&[("c", "GET", "/v1/c/{id}/messages")]);
        assert!(r.find("GET", "/v1/c/1").is_none());
        assert!(r.find("GET", "/v1/c/1/messages/2").is_none());
        assert!(r.find("GET", "/v1/c//messages").is_none());
    }

    #[test]
    fn parameters_are_percent_decoded() {
        let r = router(&[("c", "GET", "/v1/c/{id}")]);
        assert_eq!(r.find("GET", "/v1/c/a%20b+c").unwrap().params["id"], "a b+c");
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest() {
        let r = router(&[("p", "ANY", "/files/{proxy+}")]);
        assert_eq!(r.find("DELETE", "/files/a/b").unwrap().params["proxy"], "a/b");
    }
}
