//! Creates, in the local AWS emulator, the DynamoDB tables and KMS keys the template
//! declares — the same key schema, billing and TTL — and reports the environment variables
//! that point functions at them (derived from the functions' `!Ref`/`!GetAtt` variables).
//!
//! Idempotent: an existing table is kept; a key is found again by its alias.

use std::collections::BTreeMap;

use shared::platform::aws::aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use shared::platform::aws::{SdkConfig, aws_sdk_dynamodb, aws_sdk_kms};

use crate::template::{LOCAL_STAGE, Table, Template};

/// Provisions everything and returns `VARIABLE → value` for the stack's env file.
pub async fn provision(template: &Template, aws: &SdkConfig) -> Result<BTreeMap<String, String>, String> {
    let dynamodb = shared::platform::aws::dynamodb(aws);
    let kms = shared::platform::aws::kms(aws);
    let mut resources: BTreeMap<String, String> = BTreeMap::new();
    for table in &template.tables {
        create_table(&dynamodb, table).await?;
        resources.insert(table.logical_id.clone(), table.name.clone());
    }
    for key in &template.kms_keys {
        resources.insert(key.clone(), ensure_key(&kms, key).await?);
    }
    let mut env = BTreeMap::new();
    for function in &template.functions {
        for (var, target) in &function.resource_env {
            if let Some(value) = resources.get(target) {
                env.insert(var.clone(), value.clone());
            }
        }
    }
    Ok(env)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &Table) -> Result<(), String> {
    let mut req = client.create_table().table_name(&table.name).billing_mode(BillingMode::PayPerRequest);
    for (name, kind) in &table.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let mut keys = vec![(table.hash_key.as_str(), KeyType::Hash)];
    if let Some(range) = &table.range_key {
        keys.push((range, KeyType::Range));
    }
    for (name, kind) in keys {
        req = req.key_schema(
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string())?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(format!("cannot create table {}: {}", table.name, shared::platform::aws::describe(&e))),
    }
    if let Some(attr) = &table.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(&table.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("cannot enable TTL on {}: {}", table.name, shared::platform::aws::describe(&e)))?;
    }
    Ok(())
}

/// The key's ARN, creating the key (and `alias/parley-local-<logical id>`) when missing.
async fn ensure_key(client: &aws_sdk_kms::Client, logical_id: &str) -> Result<String, String> {
    let alias = format!("alias/parley-{LOCAL_STAGE}-{}", logical_id.to_ascii_lowercase());
    if let Ok(found) = client.describe_key().key_id(&alias).send().await
        && let Some(arn) = found.key_metadata().and_then(|m| m.arn())
    {
        return Ok(arn.to_owned());
    }
    let created = client
        .create_key()
        .description(format!("parley local {logical_id}"))
        .send()
        .await
        .map_err(|e| format!("cannot create KMS key {logical_id}: {}", shared::platform::aws::describe(&e)))?;
    let meta = created.key_metadata().ok_or("CreateKey returned no metadata")?;
    client
        .create_alias()
        .alias_name(&alias)
        .target_key_id(meta.key_id())
        .send()
        .await
        .map_err(|e| format!("cannot alias KMS key {logical_id}: {}", shared::platform::aws::describe(&e)))?;
    Ok(meta.arn().unwrap_or(meta.key_id()).to_owned())
}
