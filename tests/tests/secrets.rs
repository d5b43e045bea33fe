//! Secrets by ARN (docs/deploy.md, "Contract for the code", point 1): a function given only
//! `PARLEY_X_SECRET_ARN` fetches the secret from Secrets Manager (moto) on the first request
//! that needs it, answers 503 while it cannot, recovers on a later request, and never logs
//! the value.

use parley_e2e::anthropic_stub::{AnthropicStub, Behaviour, calm_verdict};
use parley_e2e::{Gateway, bearer_request, body_json, env_with, send, user_token};
use reqwest::Method;
use serde_json::json;
use shared::platform::aws::aws_sdk_secretsmanager;
use uuid::Uuid;

async fn secrets() -> aws_sdk_secretsmanager::Client {
    shared::platform::aws::secretsmanager(&shared::platform::aws::load().await)
}

/// A fresh value long enough for a signing key, unlike anything else in the logs.
fn fresh_value() -> String {
    format!("secret-value-{}-{}", Uuid::now_v7().simple(), Uuid::now_v7().simple())
}

/// Creates a secret holding `value`; returns its ARN.
async fn create_secret(value: &str) -> String {
    let out = secrets()
        .await
        .create_secret()
        .name(format!("parley/test/{}", Uuid::now_v7()))
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
    out.arn.expect("an ARN")
}

/// A gateway whose anonymous-token key is only the ARN (the plain variable emptied).
fn gateway_with_anon_key_arn(arn: &str) -> Gateway {
    Gateway::start(&[("PARLEY_ANON_TOKEN_SECRET", ""), ("PARLEY_ANON_TOKEN_SECRET_ARN", arn), ("PARLEY_LOG", "debug")])
}

async fn start_session(gateway: &Gateway) -> (u16, serde_json::Value) {
    let resp = gateway.request(Method::POST, "/v1/sessions/anonymous", &[]).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_function_given_only_the_arn_signs_and_verifies_with_the_secret() {
    // GIVEN the anonymous-token key in Secrets Manager, and a gateway given only its ARN
    let key = fresh_value();
    let arn = create_secret(&key).await;
    let gateway = gateway_with_anon_key_arn(&arn);
    // WHEN a session starts and its token is used
    let (status, body) = start_session(&gateway).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let who = [("x-anonymous-session".to_owned(), token.clone())];
    let me = gateway.request(Method::GET, "/v1/sessions/me", &who).send().await.unwrap();
    // THEN the token verifies on that gateway
    assert_eq!(me.status(), 200);
    // AND it was signed with the secret's value, not the stack's plain key
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["parley:anonymous"]);
    jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .expect("signed with the key from Secrets Manager");
    let main = parley_e2e::get("/v1/sessions/me", &[("x-anonymous-session", &token)]).await;
    assert_eq!(main.status, 401, "the stack's own key must not verify it");
    // AND the value never reached the log, even at debug
    let log = gateway.log();
    assert!(log.contains("secret resolved"), "the fetch is logged by name: {log}");
    assert!(!log.contains(&key), "the secret's value is in the gateway log");
}

#[tokio::test]
async fn a_missing_secret_answers_503_and_a_later_request_recovers() {
    // GIVEN a gateway given the ARN of a secret that has no value yet
    let client = secrets().await;
    let created =
        client.create_secret().name(format!("parley/test/{}", Uuid::now_v7())).send().await.expect("moto creates it");
    let arn = created.arn.unwrap();
    let gateway = gateway_with_anon_key_arn(&arn);
    // WHEN a session is asked for
    let reply = send(gateway.request(Method::POST, "/v1/sessions/anonymous", &[])).await;
    // THEN the answer is a 503 problem, and no token
    reply.assert_problem(503);
    assert_eq!(reply.body["type"], "urn:parley:problem:dependency-unavailable");
    assert!(reply.body.get("token").is_none());
    // WHEN the secret gets its value; THEN the next request fetches it and succeeds
    let key = fresh_value();
    client.put_secret_value().secret_id(&arn).secret_string(&key).send().await.expect("moto stores the value");
    let (status, body) = start_session(&gateway).await;
    assert_eq!(status, 201, "{body}");
    assert!(!gateway.log().contains(&key), "the secret's value is in the gateway log");
}

#[tokio::test]
async fn a_short_key_from_the_secret_is_refused_without_quoting_it() {
    // GIVEN a secret whose value is too short to be a signing key
    let arn = create_secret("short-key-value").await;
    let gateway = gateway_with_anon_key_arn(&arn);
    // WHEN a session is asked for; THEN 503 (the instance cannot sign), and the log names
    // the setting but never the value
    assert_eq!(start_session(&gateway).await.0, 503);
    let log = gateway.log();
    assert!(log.contains("PARLEY_ANON_TOKEN_SECRET"), "{log}");
    assert!(!log.contains("short-key-value"), "the secret's value is in the gateway log");
}

#[tokio::test]
async fn the_anthropic_key_comes_from_its_secret_and_a_missing_one_falls_back_to_local() {
    // GIVEN Claude configured with the key's ARN only
    let stub = AnthropicStub::start(Behaviour::Verdict(calm_verdict())).await;
    let key = fresh_value();
    let arn = create_secret(&key).await;
    let env = |arn: &str| {
        env_with(&[
            ("PARLEY_ANTHROPIC_API_KEY", ""),
            ("PARLEY_ANTHROPIC_API_KEY_SECRET_ARN", arn),
            ("PARLEY_ANTHROPIC_BASE_URL", &stub.url),
        ])
    };
    let state = tone_analysis::State::from_source(&env(&arn)).await.unwrap();
    // WHEN a text is analysed
    let analyse = |state: tone_analysis::State| async move {
        let req = bearer_request(
            "POST",
            "/v1/tone/analyses",
            &user_token(Uuid::now_v7()),
            Some(&json!({ "text": "Could you pick them up at 5?" })),
        );
        let resp = tone_analysis::handle(&state, req).await;
        assert_eq!(resp.status(), 200);
        body_json(&resp)
    };
    // THEN Claude answers, called with the secret's value
    assert_eq!(analyse(state.clone()).await["provider"], "claude");
    assert_eq!(stub.last_api_key().as_deref(), Some(key.as_str()));
    // AND with the ARN of a secret that does not exist, the local analyzer answers and
    // Claude is never called
    let calls = stub.calls();
    let missing = arn.replace("parley/test/", "parley/missing/");
    let state = tone_analysis::State::from_source(&env(&missing)).await.unwrap();
    assert_eq!(analyse(state).await["provider"], "local");
    assert_eq!(stub.calls(), calls);
}

#[tokio::test]
async fn stripe_and_twilio_credentials_come_from_their_secrets_too() {
    use parley_e2e::payments::{event, event_id, now, stripe_signature, user_with_cart};
    // GIVEN the Stripe webhook secret, the Stripe key and the Twilio token only in Secrets
    // Manager (the plain variables emptied), each a value the stack itself does not use
    let webhook_secret = format!("whsec_{}", Uuid::now_v7().simple());
    let twilio_token = fresh_value();
    let stripe_key = parley_e2e::setting("PARLEY_STRIPE_SECRET_KEY"); // the stub takes any sk_ key
    let (webhook_arn, twilio_arn, key_arn) =
        (create_secret(&webhook_secret).await, create_secret(&twilio_token).await, create_secret(&stripe_key).await);
    let gateway = Gateway::start(&[
        ("PARLEY_STRIPE_WEBHOOK_SECRETS", ""),
        ("PARLEY_STRIPE_WEBHOOK_SECRETS_SECRET_ARN", &webhook_arn),
        ("TWILIO_AUTH_TOKEN", ""),
        ("PARLEY_TWILIO_AUTH_TOKEN_SECRET_ARN", &twilio_arn),
        ("PARLEY_STRIPE_SECRET_KEY", ""),
        ("PARLEY_STRIPE_SECRET_KEY_SECRET_ARN", &key_arn),
        ("PARLEY_LOG", "debug"),
    ]);
    // WHEN a Stripe event arrives signed with the secret's value, THEN it verifies; signed
    // with the stack's plain secret, it does not
    let body =
        event(&event_id(), "payment_method.detached", json!({"id": "pm_secret_test", "object": "payment_method"}));
    for (secret, want) in [(webhook_secret.as_str(), 200), (&parley_e2e::setting("STRIPE_WEBHOOK_SECRET"), 400)] {
        let resp = gateway
            .request(Method::POST, "/webhooks/stripe", &[])
            .header("content-type", "application/json")
            .header("stripe-signature", stripe_signature(&body, secret, now()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want);
    }
    // WHEN a Twilio status callback arrives signed with the secret's token, THEN it verifies
    let params: Vec<(String, String)> =
        [("MessageSid", "SMsecrettest"), ("MessageStatus", "delivered")].map(|(k, v)| (k.into(), v.into())).into();
    let url = format!("{}/webhooks/twilio/status", parley_e2e::setting("PARLEY_PUBLIC_URL"));
    for (token, want) in [(twilio_token.as_str(), 200), (&parley_e2e::setting("TWILIO_AUTH_TOKEN"), 403)] {
        let form: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let resp = gateway
            .request(Method::POST, "/webhooks/twilio/status", &[])
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", shared::sms::signature::compute(token.as_bytes(), &url, &params))
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want);
    }
    // WHEN a signed-in user checks out by card, THEN the Stripe key from its secret opens the session
    let (user, _, _) = user_with_cart().await;
    let resp = gateway
        .request(Method::POST, "/v1/checkout", &parley_e2e::as_user(user))
        .json(&json!({"method": "card"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // AND no secret value reached the log
    let log = gateway.log();
    for value in [&webhook_secret, &twilio_token] {
        assert!(!log.contains(value.as_str()), "a secret's value is in the gateway log");
    }
}

#[tokio::test]
async fn without_stripe_or_twilio_credentials_the_stack_starts_and_those_calls_answer_503() {
    use parley_e2e::payments::user_with_cart;
    // GIVEN a gateway with no Stripe key, no webhook secret and no Twilio token at all
    // (a stage deployed with those parameters empty)
    let gateway = Gateway::start(&[
        ("PARLEY_STRIPE_SECRET_KEY", ""),
        ("PARLEY_STRIPE_WEBHOOK_SECRETS", ""),
        ("TWILIO_AUTH_TOKEN", ""),
    ]);
    // WHEN a card checkout, a Stripe webhook and a Twilio webhook arrive
    let (user, _, _) = user_with_cart().await;
    let checkout = gateway
        .request(Method::POST, "/v1/checkout", &parley_e2e::as_user(user))
        .json(&json!({"method": "card"}))
        .send()
        .await
        .unwrap();
    let stripe = gateway
        .request(Method::POST, "/webhooks/stripe", &[])
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    let twilio = gateway
        .request(Method::POST, "/webhooks/twilio/status", &[])
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "AAAA")
        .body("MessageSid=SM1&MessageStatus=sent")
        .send()
        .await
        .unwrap();
    // THEN each says the dependency is unavailable (and the functions started at all)
    assert_eq!([checkout.status().as_u16(), stripe.status().as_u16(), twilio.status().as_u16()], [503, 503, 503]);
}
