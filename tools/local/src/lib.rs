//! Parley's local stack, in one process: the API Gateway emulator that serves every route
//! in `infra/template.yaml` by calling the functions' handlers in-process, plus the
//! provisioning, migration and dev-token commands the `make up` / `make test` scripts use.

pub mod capacity;
pub mod cors;
pub mod event;
pub mod provision;
pub mod registry;
pub mod router;
pub mod server;
pub mod stripe_stub;
pub mod template;
pub mod twilio_stub;

use std::path::PathBuf;

/// The repository root (this crate lives in `tools/local`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `infra/template.yaml`, or `PARLEY_TEMPLATE` when set.
pub fn template_path() -> PathBuf {
    std::env::var_os("PARLEY_TEMPLATE").map(PathBuf::from).unwrap_or_else(|| repo_root().join("infra/template.yaml"))
}

/// Posts an inbound SMS from `from` to `gateway_url`'s Twilio webhook, signed over
/// `public_url` with `auth_token` as Twilio signs it; returns the TwiML answer (or the
/// status and body of a refusal).
pub async fn inbound_sms(
    gateway_url: &str,
    public_url: &str,
    auth_token: &str,
    from: &str,
    body: &str,
) -> Result<String, String> {
    const PATH: &str = "/webhooks/twilio/inbound";
    let sid = format!("SM{}", uuid::Uuid::now_v7().simple());
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid.as_str()),
        ("NumMedia", "0"),
        ("To", "+15005550006"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = shared::sms::signature::compute(
        auth_token.as_bytes(),
        &format!("{}{PATH}", public_url.trim_end_matches('/')),
        &params,
    );
    let form: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let resp = reqwest::Client::new()
        .post(format!("{}{PATH}", gateway_url.trim_end_matches('/')))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(form)
        .send()
        .await
        .map_err(|e| format!("the gateway did not answer: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() { Ok(text) } else { Err(format!("{status}: {text}")) }
}
