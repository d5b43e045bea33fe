//! What the deployed templates promise about secrets and about each other, read from
//! `infra/template.yaml` and `infra/data.yaml` themselves:
//! - no `Environment` value is a secret (no NoEcho parameter, no secret's value, no
//!   `{{resolve:…}}` reference) - only Secrets Manager ARNs, in `…_SECRET_ARN` variables;
//! - a function may read (`secretsmanager:GetSecretValue`) only the secrets its own
//!   environment names;
//! - what the application stack imports from the data stack is exactly what it exports.

use std::collections::BTreeSet;

use parley_e2e::*;
use serde_yaml_ng::Value;

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn functions(doc: &Value) -> Vec<(String, &Value)> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), &r["Properties"]))
        .collect()
}

/// Every string inside `v`, tags (`!Ref` …) included, with the tag's name prefixed.
fn walk<'a>(v: &'a Value, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((String::new(), s)),
        Value::Sequence(seq) => seq.iter().for_each(|x| walk(x, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, x)| {
            if let Some(k) = k.as_str() {
                out.push(("key".into(), k));
            }
            walk(x, out)
        }),
        Value::Tagged(t) => {
            // A string takes the innermost tag around it.
            let mut inner = Vec::new();
            walk(&t.value, &mut inner);
            out.extend(inner.into_iter().map(|(tag, s)| match tag.as_str() {
                "" | "key" => (t.tag.to_string(), s),
                _ => (tag, s),
            }));
        }
        _ => {}
    }
}

/// `!Ref X` targets and `${X}` names inside `!Sub` strings.
fn references(v: &Value) -> BTreeSet<String> {
    let mut strings = Vec::new();
    walk(v, &mut strings);
    let mut refs = BTreeSet::new();
    for (tag, s) in strings {
        match tag.as_str() {
            "!Ref" | "!GetAtt" => {
                refs.insert(s.split('.').next().unwrap().to_owned());
            }
            "!Sub" => {
                let mut rest = s;
                while let Some(start) = rest.find("${") {
                    let end = rest[start..].find('}').map(|e| start + e).unwrap_or(rest.len());
                    refs.insert(rest[start + 2..end].split('.').next().unwrap().to_owned());
                    rest = &rest[end.min(rest.len())..];
                }
            }
            _ => {}
        }
    }
    refs
}

fn resource_type<'a>(doc: &'a Value, id: &str) -> Option<&'a str> {
    doc["Resources"][id]["Type"].as_str()
}

#[test]
fn no_environment_value_is_a_secret() {
    let doc = load("infra/template.yaml");
    let no_echo: BTreeSet<String> = doc["Parameters"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["NoEcho"].as_bool() == Some(true))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert!(no_echo.is_empty(), "secrets are Secrets Manager ARNs, never parameters: {no_echo:?}");
    let mut envs = vec![("Globals".to_owned(), &doc["Globals"]["Function"]["Environment"]["Variables"])];
    envs.extend(functions(&doc).into_iter().map(|(id, p)| (id, &p["Environment"]["Variables"])));
    for (id, vars) in envs {
        for (name, value) in vars.as_mapping().into_iter().flatten() {
            let name = name.as_str().unwrap();
            let mut strings = Vec::new();
            walk(value, &mut strings);
            for (_, s) in &strings {
                assert!(!s.contains("{{resolve:"), "{id}.{name} resolves a secret into the environment");
            }
            for target in references(value) {
                assert!(!no_echo.contains(&target), "{id}.{name} carries the NoEcho parameter {target}");
                let is_secret = resource_type(&doc, &target) == Some("AWS::SecretsManager::Secret")
                    || target.ends_with("SecretArn");
                if is_secret {
                    assert!(
                        name.ends_with("_SECRET_ARN"),
                        "{id}.{name} refers to the secret {target}: only its ARN, in a *_SECRET_ARN variable"
                    );
                    // `!Ref` of a secret is its ARN; `!GetAtt`/`!Sub` could reach its value.
                    assert!(
                        !matches!(value, Value::Tagged(t) if t.tag == "!Sub"),
                        "{id}.{name} builds a string from the secret {target}"
                    );
                }
            }
            assert!(
                !(name.contains("PASSWORD") || name.ends_with("_SECRET") || name.ends_with("_API_KEY")),
                "{id}.{name}: a secret's value by name; deployed functions get `{name}_ARN`-style variables"
            );
            if name.ends_with("DATABASE_URL") {
                let mut strings = Vec::new();
                walk(value, &mut strings);
                let url = strings.iter().find(|(_, s)| s.starts_with("postgres")).map(|(_, s)| *s).unwrap_or_default();
                let userinfo = url.split('@').next().unwrap_or_default();
                assert!(!userinfo.trim_start_matches("postgres://").contains(':'), "{id}.{name} holds a password");
                assert!(url.contains("sslmode=require"), "{id}.{name} must require TLS");
            }
        }
    }
}

/// The secret ARNs (as template expressions) a function's environment names.
fn secrets_named(props: &Value) -> Vec<Value> {
    props["Environment"]["Variables"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str().is_some_and(|k| k.ends_with("_SECRET_ARN")))
        .map(|(_, v)| unwrap_optional(v).clone())
        .collect()
}

/// `!If [Cond, X, !Ref AWS::NoValue]` → X: an optional value is the value when present.
fn unwrap_optional(v: &Value) -> &Value {
    if let Value::Tagged(t) = v
        && t.tag == "!If"
        && let Some(seq) = t.value.as_sequence()
        && seq.len() == 3
        && matches!(&seq[2], Value::Tagged(n) if n.value.as_str() == Some("AWS::NoValue"))
    {
        return unwrap_optional(&seq[1]);
    }
    v
}

fn statements(props: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for policy in props["Policies"].as_sequence().into_iter().flatten() {
        for s in policy["Statement"].as_sequence().into_iter().flatten() {
            out.push(unwrap_optional(s));
        }
    }
    out
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

#[test]
fn no_function_can_read_a_secret_it_does_not_use() {
    let doc = load("infra/template.yaml");
    let mut readers = 0;
    for (id, props) in functions(&doc) {
        let named = secrets_named(props);
        for statement in statements(props) {
            let acts = actions(statement);
            assert!(
                !acts.iter().any(|a| a == "*" || a == "secretsmanager:*" || a.starts_with("secretsmanager:Get*")),
                "{id}: a wildcard secretsmanager action"
            );
            if !acts.iter().any(|a| a == "secretsmanager:GetSecretValue") {
                continue;
            }
            readers += 1;
            let resources: Vec<&Value> = match &statement["Resource"] {
                Value::Sequence(seq) => seq.iter().collect(),
                other => vec![other],
            };
            for resource in resources {
                let resource = unwrap_optional(resource);
                assert!(resource.as_str() != Some("*"), "{id}: GetSecretValue on *");
                assert!(
                    named.contains(resource),
                    "{id} may read {resource:?}, which no *_SECRET_ARN variable of its environment names"
                );
            }
        }
    }
    assert!(readers >= 2, "expected functions that read secrets; found {readers}");
}

#[test]
fn only_the_wallet_functions_can_use_the_wallet_key_and_only_for_wallet_keys() {
    let doc = load("infra/template.yaml");
    let policy = &doc["Resources"]["WalletKey"]["Properties"]["KeyPolicy"]["Statement"];
    for s in policy.as_sequence().unwrap() {
        let acts = actions(s);
        assert!(!acts.iter().any(|a| a == "kms:*"), "no blanket kms:* in the wallet key policy");
        let uses = acts.iter().any(|a| {
            a.starts_with("kms:Encrypt")
                || a.starts_with("kms:Decrypt")
                || a.starts_with("kms:ReEncrypt")
                || a.starts_with("kms:GenerateDataKey")
        });
        if uses {
            assert_eq!(
                s["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"].as_str(),
                Some("wallet-key"),
                "{:?} uses the key without purpose = wallet-key",
                s["Sid"]
            );
            let principal = &s["Principal"]["AWS"];
            assert!(
                !format!("{principal:?}").contains(":root"),
                "{:?}: the account root may not use the key",
                s["Sid"]
            );
        }
    }
}

#[test]
fn the_data_stack_exports_what_the_application_imports() {
    let data = load("infra/data.yaml");
    let exported: BTreeSet<String> = data["Outputs"]
        .as_mapping()
        .unwrap()
        .values()
        .filter_map(|o| {
            let Value::Tagged(t) = &o["Export"]["Name"] else { return None };
            t.value.as_str()?.strip_prefix("${AWS::StackName}-").map(str::to_owned)
        })
        .collect();
    let text = std::fs::read_to_string(repo().join("infra/template.yaml")).unwrap();
    let imported: BTreeSet<String> = text
        .split("!ImportValue {\"Fn::Sub\": \"${DataStackName}-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert!(!imported.is_empty(), "the application stack imports nothing from the data stack");
    let missing: Vec<_> = imported.difference(&exported).collect();
    assert!(missing.is_empty(), "imported but not exported by infra/data.yaml: {missing:?}");
    assert!(
        !text.contains("ImportValue")
            || text.matches("ImportValue").count() == text.matches("${DataStackName}-").count(),
        "every ImportValue names its export as ${{DataStackName}}-<Output>"
    );
}

#[test]
fn docs_scaling_md_shows_the_connection_budget_the_templates_imply_and_every_stage_fits() {
    let read = |p: &str| std::fs::read_to_string(repo().join(p)).unwrap();
    let block = parley_local::capacity::markdown(&read("infra/template.yaml"), &read("infra/data.yaml")).unwrap();
    let doc = read("docs/scaling.md");
    assert!(
        doc.contains(&block),
        "docs/scaling.md's connection budget is stale: run `target/debug/parley-local capacity --write`\n{block}"
    );
    // Every stage's worst case fits what the proxy may open, and nothing with a database is
    // left unreserved (which would make the worst case unbounded).
    for line in block.lines().filter(|l| l.starts_with("| staging |") || l.starts_with("| prod |")) {
        assert!(line.contains("| yes,"), "over the proxy's connection budget: {line}");
    }
}
