//! Reads `infra/template.yaml`: the functions, their HttpApi routes, and the DynamoDB
//! tables and KMS keys the local stack must create. The template is the single source of
//! truth for routing, so the local gateway cannot drift from what API Gateway serves.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;

/// One Lambda function of the template.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// The crate under `functions/` (the last segment of `CodeUri`).
    pub name: String,
    pub routes: Vec<Route>,
    /// Environment variables whose value refers to another resource (`!Ref X`,
    /// `!GetAtt X.Arn`): variable name → resource logical id.
    pub resource_env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
}

impl Route {
    /// API Gateway's route key: `GET /v1/things/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub logical_id: String,
    /// `TableName` with `${Stage}` substituted by the local stage.
    pub name: String,
    pub hash_key: String,
    pub range_key: Option<String>,
    /// Attribute name → type (`S`, `N`, `B`).
    pub attributes: Vec<(String, String)>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub functions: Vec<Function>,
    pub tables: Vec<Table>,
    /// Logical ids of `AWS::KMS::Key` resources.
    pub kms_keys: Vec<String>,
    /// The `CorsConfiguration` of the `AWS::Serverless::HttpApi`, as written (read by
    /// [`crate::cors`]).
    pub http_api_cors: Option<Value>,
    /// Parameter name → its `Default`, as text (a `CommaDelimitedList` stays comma-separated).
    pub parameter_defaults: BTreeMap<String, String>,
}

/// The stage name substituted into `${Stage}` locally.
pub const LOCAL_STAGE: &str = "local";

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let resources = doc.get("Resources").and_then(Value::as_mapping).ok_or("no Resources")?;
        let mut template = Template {
            functions: Vec::new(),
            tables: Vec::new(),
            kms_keys: Vec::new(),
            http_api_cors: None,
            parameter_defaults: BTreeMap::new(),
        };
        if let Some(params) = doc.get("Parameters").and_then(Value::as_mapping) {
            for (name, param) in params {
                let default = match param.get("Default") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    _ => None,
                };
                if let (Some(name), Some(default)) = (name.as_str(), default) {
                    template.parameter_defaults.insert(name.to_owned(), default);
                }
            }
        }
        for (id, resource) in resources {
            let id = id.as_str().ok_or("a resource id is not a string")?.to_owned();
            let props = resource.get("Properties");
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => template.functions.push(function(&id, props)?),
                Some("AWS::DynamoDB::Table") => template.tables.push(table(&id, props)?),
                Some("AWS::KMS::Key") => template.kms_keys.push(id),
                Some("AWS::Serverless::HttpApi") => {
                    template.http_api_cors = props.and_then(|p| p.get("CorsConfiguration")).cloned();
                }
                _ => {}
            }
        }
        Ok(template)
    }

    /// Every route of every function, with the function that serves it.
    pub fn routes(&self) -> impl Iterator<Item = (&Function, &Route)> {
        self.functions.iter().flat_map(|f| f.routes.iter().map(move |r| (f, r)))
    }
}

fn function(id: &str, props: Option<&Value>) -> Result<Function, String> {
    let props = props.ok_or_else(|| format!("{id} has no Properties"))?;
    let code_uri = props.get("CodeUri").and_then(Value::as_str).ok_or_else(|| format!("{id} has no CodeUri"))?;
    let name = code_uri.trim_end_matches('/').rsplit('/').next().unwrap_or(code_uri).to_owned();
    let mut routes = Vec::new();
    if let Some(events) = props.get("Events").and_then(Value::as_mapping) {
        for (event_id, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let ep = event.get("Properties").ok_or_else(|| format!("{id}.{event_id:?} has no Properties"))?;
            let method = ep
                .get("Method")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{id}: an HttpApi event has no Method"))?;
            let path =
                ep.get("Path").and_then(Value::as_str).ok_or_else(|| format!("{id}: an HttpApi event has no Path"))?;
            routes.push(Route { method: method.to_ascii_uppercase(), path: path.to_owned() });
        }
    }
    let mut resource_env = BTreeMap::new();
    if let Some(vars) = props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping) {
        for (k, v) in vars {
            if let (Some(k), Some(target)) = (k.as_str(), resource_ref(v)) {
                resource_env.insert(k.to_owned(), target);
            }
        }
    }
    Ok(Function { logical_id: id.to_owned(), name, routes, resource_env })
}

/// `!Ref X` → X; `!GetAtt X.Arn` → X. Parameters are not resources and are filtered later.
fn resource_ref(v: &Value) -> Option<String> {
    let Value::Tagged(tagged) = v else { return None };
    let s = tagged.value.as_str()?;
    match tagged.tag.to_string().as_str() {
        "!Ref" => Some(s.to_owned()),
        "!GetAtt" => s.split('.').next().map(str::to_owned),
        _ => None,
    }
}

fn table(id: &str, props: Option<&Value>) -> Result<Table, String> {
    let props = props.ok_or_else(|| format!("{id} has no Properties"))?;
    let name = match props.get("TableName") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Tagged(t)) if t.tag == "!Sub" => t
            .value
            .as_str()
            .ok_or_else(|| format!("{id}: TableName !Sub is not a string"))?
            .replace("${Stage}", LOCAL_STAGE),
        _ => format!("parley-{LOCAL_STAGE}-{id}"),
    };
    let mut hash_key = None;
    let mut range_key = None;
    for k in props.get("KeySchema").and_then(Value::as_sequence).ok_or_else(|| format!("{id} has no KeySchema"))? {
        let attr = k.get("AttributeName").and_then(Value::as_str).unwrap_or_default().to_owned();
        match k.get("KeyType").and_then(Value::as_str) {
            Some("HASH") => hash_key = Some(attr),
            Some("RANGE") => range_key = Some(attr),
            _ => return Err(format!("{id}: unknown KeyType")),
        }
    }
    let attributes = props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| format!("{id} has no AttributeDefinitions"))?
        .iter()
        .map(|a| {
            (
                a.get("AttributeName").and_then(Value::as_str).unwrap_or_default().to_owned(),
                a.get("AttributeType").and_then(Value::as_str).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let ttl_attribute = props
        .get("TimeToLiveSpecification")
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Table {
        logical_id: id.to_owned(),
        name,
        hash_key: hash_key.ok_or_else(|| format!("{id} has no HASH key"))?,
        range_key,
        attributes,
        ttl_attribute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub parley-${Stage}-ephemeral
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Key:
    Type: AWS::KMS::Key
  ThingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/thing-get
      Environment:
        Variables:
          PARLEY_TABLE_NAME: !Ref Table
          PARLEY_KMS_KEY_ID: !GetAtt Key.Arn
          PARLEY_PLAIN: hello
      Events:
        Get:
          Type: HttpApi
          Properties: {Method: get, Path: "/v1/things/{id}"}
        Tick:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour)}
"#;

    #[test]
    fn functions_routes_tables_and_keys_are_read() {
        let t = Template::parse(SAMPLE).unwrap();
        let f = &t.functions[0];
        assert_eq!(f.name, "thing-get");
        assert_eq!(f.routes, vec![Route { method: "GET".into(), path: "/v1/things/{id}".into() }]);
        assert_eq!(f.resource_env["PARLEY_TABLE_NAME"], "Table");
        assert_eq!(f.resource_env["PARLEY_KMS_KEY_ID"], "Key");
        assert!(!f.resource_env.contains_key("PARLEY_PLAIN"));
        assert_eq!(t.tables[0].name, "parley-local-ephemeral");
        assert_eq!(t.tables[0].ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(t.kms_keys, vec!["Key".to_owned()]);
    }
}
