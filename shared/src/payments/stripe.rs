//! Stripe: the API client (async-stripe 1.0) and the webhook signature check.
//!
//! Guarantees:
//! - every call has a per-attempt timeout and an overall deadline well inside the Lambda
//!   timeout; retries (429, 5xx, network) are bounded and back off;
//! - every POST carries an idempotency key derived from Parley's own ids
//!   (`parley-customer-<user>`, `parley-checkout-<order>`), never a random one, so a retried
//!   invocation cannot create a second customer or Checkout Session;
//! - a webhook body is verified on its raw bytes against every configured signing secret
//!   (rotation without downtime), every `v1` in the header, 300 s tolerance;
//! - the secret key never reaches a log line (the client marks its header sensitive).
//!
//! Linked only by the functions that talk to Stripe (`shared`'s `stripe` feature).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionSubscriptionData, ProductData,
};
use stripe_client_core::{RequestBuilder, StripeMethod};
use stripe_core::customer::CreateCustomer;
use stripe_core::event::ListEvent;
use stripe_types::RangeQueryTs;
use uuid::Uuid;

use crate::platform::config::{self, ConfigError, Source};
use crate::platform::error::ApiError;
use crate::platform::outbound;
use crate::platform::secrets::SecretSetting;

use super::events::{Effects, Incoming};
use super::orders::Draft;
use super::subscriptions::{InvoiceState, Plans, StripeObjects, SubscriptionState};

/// Attempts per call (the first and two retries), all with the same idempotency key.
const ATTEMPTS: u32 = 3;

/// Stripe's API, as Parley uses it.
#[derive(Clone)]
pub struct Stripe {
    /// Built from the secret key when it is first needed (the key may be a secret to fetch);
    /// `None` when no key is configured (every call then answers 503).
    client: Option<SecretSetting<Client>>,
    deadline: Duration,
}

impl Stripe {
    /// Reads `PARLEY_STRIPE_SECRET_KEY` (or `PARLEY_STRIPE_SECRET_KEY_SECRET_ARN`, fetched by
    /// the first call; neither set leaves Stripe off: calls answer 503), `PARLEY_STRIPE_API_BASE` (a local stub; default Stripe's API),
    /// `PARLEY_STRIPE_TIMEOUT_MS` (per attempt, 4000) and `PARLEY_STRIPE_DEADLINE_MS` (all
    /// attempts, 10000). Opens no connection.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let timeout = config::millis_or(src, "PARLEY_STRIPE_TIMEOUT_MS", Duration::from_millis(4_000))?;
        let deadline = config::millis_or(src, "PARLEY_STRIPE_DEADLINE_MS", Duration::from_millis(10_000))?;
        let base = config::optional(src, "PARLEY_STRIPE_API_BASE")
            .map(|base| if base.ends_with('/') { base } else { format!("{base}/") });
        let client = SecretSetting::optional(
            src,
            "PARLEY_STRIPE_SECRET_KEY",
            "PARLEY_STRIPE_SECRET_KEY_SECRET_ARN",
            move |key: &str| {
                let key = key.trim();
                if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                    return Err("must be a Stripe secret key (sk_… or rk_…)".to_owned());
                }
                let mut builder =
                    ClientBuilder::new(key).timeout(timeout).app_info("parley", Some(crate::VERSION.to_owned()), None);
                if let Some(base) = &base {
                    builder = builder.url(base.clone());
                }
                builder.build().map_err(|e| e.to_string())
            },
        )?;
        Ok(Self { client, deadline })
    }

    /// The client, its key fetched first if need be.
    async fn client(&self) -> Result<std::sync::Arc<Client>, ApiError> {
        match &self.client {
            Some(client) => client.get().await,
            None => Err(ApiError::unavailable("Stripe").with_source("no Stripe secret key is configured")),
        }
    }

    /// Runs `call` (one Stripe request, always sent with the same idempotency key): bounded
    /// retries on network errors, 429 and 5xx, all inside the overall deadline.
    async fn with_retries<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let attempts = async {
            let mut attempt = 0;
            loop {
                match call().await {
                    Ok(out) => return Ok(out),
                    Err(e) if attempt + 1 < ATTEMPTS && retryable(&e) => {
                        tracing::warn!(error = %short(&e), attempt, "Stripe call failed; retrying");
                        tokio::time::sleep(outbound::backoff(attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout(self.deadline, attempts).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(StripeError::Stripe(err, 404))) => {
                Err(ApiError::not_found(err.message.clone().unwrap_or_else(|| "Stripe has no such object".to_owned())))
            }
            Ok(Err(e)) => Err(ApiError::unavailable("Stripe").with_source(short(&e))),
            Err(_) => Err(ApiError::unavailable("Stripe").with_source("deadline exceeded")),
        }
    }

    /// The user's Stripe customer: `known` (the one stored for them), else one created now
    /// ([`Self::create_customer`]).
    pub async fn customer(&self, known: Option<&str>, user_id: Uuid) -> Result<String, ApiError> {
        match known {
            Some(customer) => Ok(customer.to_owned()),
            None => self.create_customer(user_id).await,
        }
    }

    /// Creates the user's Stripe customer. Keyed by the user id: two concurrent first
    /// checkouts get the same customer back from Stripe. The caller stores it
    /// ([`super::orders::remember_stripe_customer`]) in a transaction opened after this
    /// call: no transaction waits on Stripe.
    pub async fn create_customer(&self, user_id: Uuid) -> Result<String, ApiError> {
        let metadata = HashMap::from([("user_id".to_owned(), user_id.to_string())]);
        let req = CreateCustomer::new().metadata(metadata);
        let customer: Created = self.post(&req, &format!("parley-customer-{user_id}")).await?;
        Ok(customer.id)
    }

    /// Opens a Checkout Session (mode `payment`) for `draft`: one line item per cart item at
    /// its server price; `client_reference_id` and `metadata.order_id` name the order.
    pub async fn create_checkout_session(
        &self,
        draft: &Draft,
        customer: &str,
        urls: &CheckoutUrls,
        expires_at: DateTime<Utc>,
    ) -> Result<Session, ApiError> {
        let currency = draft
            .currency
            .to_ascii_lowercase()
            .parse::<stripe_types::Currency>()
            .map_err(|_| ApiError::internal().with_source(format!("unknown currency {}", draft.currency)))?;
        let items: Vec<CreateCheckoutSessionLineItems> = draft
            .lines
            .iter()
            .map(|line| {
                let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency.clone());
                price.unit_amount = Some(line.premium_cents);
                price.product_data = Some(ProductData::new(line.product_name.clone()));
                let mut item = CreateCheckoutSessionLineItems::new();
                item.price_data = Some(price);
                item.quantity = Some(1);
                item
            })
            .collect();
        let order = draft.order_id.to_string();
        let req = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .customer(customer)
            .client_reference_id(order.clone())
            .metadata(HashMap::from([("order_id".to_owned(), order.clone())]))
            .line_items(items)
            .success_url(urls.success.clone())
            .cancel_url(urls.cancel.clone())
            .expires_at(expires_at.timestamp());
        let session: CreatedSession = self.post(&req, &format!("parley-checkout-{order}")).await?;
        session.into_session(expires_at)
    }
}

impl Stripe {
    /// Opens a Checkout Session (mode `subscription`) for `price`; the subscription it
    /// creates carries `metadata.user_id` and `metadata.plan`. `key` makes a retried request
    /// get the same session back.
    pub async fn create_subscription_session(
        &self,
        user_id: Uuid,
        customer: &str,
        plan: &str,
        price: &str,
        urls: &CheckoutUrls,
        key: &str,
    ) -> Result<Session, ApiError> {
        let metadata =
            HashMap::from([("user_id".to_owned(), user_id.to_string()), ("plan".to_owned(), plan.to_owned())]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price.to_owned());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let req = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(customer)
            .client_reference_id(user_id.to_string())
            .metadata(metadata)
            .line_items(vec![item])
            .subscription_data(subscription)
            .success_url(urls.success.clone())
            .cancel_url(urls.cancel.clone());
        let session: CreatedSession = self.post(&req, key).await?;
        session.into_session(Utc::now())
    }

    /// A Billing Portal session for `customer`: the URL where they manage cards and cancel.
    pub async fn create_portal_session(&self, customer: &str, return_url: &str, key: &str) -> Result<String, ApiError> {
        let req = CreateBillingPortalSession::new().customer(customer).return_url(return_url);
        let session: PortalSession = self.post(&req, key).await?;
        Ok(session.url)
    }

    /// Sends `req` — the crate's typed parameters, form-encoded by it — with the idempotency
    /// key `key`, and reads the answer into `T`: only the fields Parley uses. The crate's own
    /// answer types (a Customer, a Checkout Session) reach, through their expandable fields,
    /// nearly every object Stripe has; deserializing them would link all of it into every
    /// payment binary (and made its release link take minutes) to read two fields.
    async fn post<T: miniserde::Deserialize + Send>(&self, req: &impl StripeRequest, key: &str) -> Result<T, ApiError> {
        let key = idempotency_key(key)?;
        let client = self.client().await?;
        self.with_retries(|| {
            req.build().customize::<T>().request_strategy(RequestStrategy::Idempotent(key.clone())).send(&*client)
        })
        .await
    }

    /// GETs `path` into `T`. For the objects read in full elsewhere only a few fields
    /// matter, and reading just those keeps an API version that adds or reshapes others
    /// from breaking the read.
    async fn get<T: miniserde::Deserialize + Send>(&self, path: String) -> Result<T, ApiError> {
        let client = self.client().await?;
        self.with_retries(|| RequestBuilder::new(StripeMethod::Get, path.clone()).customize::<T>().send(&*client)).await
    }
}

/// What a function that applies Stripe's events needs: the client (subscription and
/// invoice events read the current state) and the plans on sale.
#[derive(Clone)]
pub struct EventEffects {
    stripe: Stripe,
    plans: Plans,
}

impl EventEffects {
    /// The Stripe settings ([`Stripe::from_env`]) and `PARLEY_STRIPE_PLANS`.
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self { stripe: Stripe::from_env(src)?, plans: Plans::from_env(src)? })
    }

    pub fn stripe(&self) -> &Stripe {
        &self.stripe
    }

    /// The context `events::receive`/`reprocess` apply an event in, for `function`.
    pub fn for_function<'a>(&'a self, function: &'a str) -> Effects<'a> {
        Effects { function, stripe: &self.stripe, plans: &self.plans }
    }
}

/// What Parley reads of an object it created: its id.
#[derive(miniserde::Deserialize)]
struct Created {
    id: String,
}

/// What Parley reads of a Checkout Session it opened.
#[derive(miniserde::Deserialize)]
struct CreatedSession {
    id: String,
    url: Option<String>,
    expires_at: i64,
}

impl CreatedSession {
    /// `fallback` stands in for an `expires_at` out of range (never seen from Stripe).
    fn into_session(self, fallback: DateTime<Utc>) -> Result<Session, ApiError> {
        let url =
            self.url.ok_or_else(|| ApiError::unavailable("Stripe").with_source("the Checkout Session has no url"))?;
        Ok(Session { id: self.id, url, expires_at: DateTime::from_timestamp(self.expires_at, 0).unwrap_or(fallback) })
    }
}

/// What Parley reads of a Billing Portal session.
#[derive(miniserde::Deserialize)]
struct PortalSession {
    url: String,
}

/// The fields of a Stripe subscription Parley reads (API version 2025-03-31 and later keep
/// the billing period on the subscription's items).
#[derive(miniserde::Deserialize)]
struct SubscriptionFields {
    id: String,
    customer: String,
    status: String,
    cancel_at_period_end: bool,
    metadata: HashMap<String, String>,
    items: ItemList,
}

#[derive(miniserde::Deserialize)]
struct ItemList {
    data: Vec<ItemFields>,
}

#[derive(miniserde::Deserialize)]
struct ItemFields {
    price: PriceFields,
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
}

#[derive(miniserde::Deserialize)]
struct PriceFields {
    id: String,
}

/// The fields of a Stripe invoice Parley reads; the subscription is under
/// `parent.subscription_details` since API version 2025-03-31.
#[derive(miniserde::Deserialize)]
struct InvoiceFields {
    id: String,
    customer: String,
    status: Option<String>,
    amount_due: i64,
    amount_paid: i64,
    currency: String,
    parent: Option<InvoiceParent>,
}

#[derive(miniserde::Deserialize)]
struct InvoiceParent {
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionDetails {
    subscription: Option<String>,
}

impl StripeObjects for Stripe {
    fn subscription<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<SubscriptionState, ApiError>> {
        Box::pin(async move {
            let s: SubscriptionFields = self.get(format!("/subscriptions/{id}")).await?;
            let item = s.items.data.first();
            let at = |t: Option<i64>| t.and_then(|t| DateTime::from_timestamp(t, 0));
            Ok(SubscriptionState {
                user_id: s.metadata.get("user_id").and_then(|u| u.parse().ok()),
                plan: s.metadata.get("plan").cloned(),
                price_id: item.map(|i| i.price.id.clone()),
                current_period_start: at(item.and_then(|i| i.current_period_start)),
                current_period_end: at(item.and_then(|i| i.current_period_end)),
                id: s.id,
                customer: s.customer,
                status: s.status,
                cancel_at_period_end: s.cancel_at_period_end,
            })
        })
    }

    fn invoice<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<InvoiceState, ApiError>> {
        Box::pin(async move {
            let i: InvoiceFields = self.get(format!("/invoices/{id}")).await?;
            Ok(InvoiceState {
                subscription: i.parent.and_then(|p| p.subscription_details).and_then(|d| d.subscription),
                id: i.id,
                customer: i.customer,
                status: i.status.unwrap_or_else(|| "draft".to_owned()),
                amount_due: i.amount_due,
                amount_paid: i.amount_paid,
                currency: i.currency,
            })
        })
    }
}

impl Stripe {
    /// Stripe's events created since `since` (unix seconds), newest first, as
    /// `(event id, event JSON)`; at most `max_pages` pages of 100. The JSON is the event as
    /// the API renders it, the same shape a webhook delivers.
    pub async fn recent_events(&self, since: i64, max_pages: u32) -> Result<Vec<(String, String)>, ApiError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let client = self.client().await?;
        for page in 0..max_pages {
            let mut req = ListEvent::new().limit(100).created(RangeQueryTs::gte(since));
            if let Some(a) = &after {
                req = req.starting_after(a.clone());
            }
            // A GET carries no idempotency key: it changes nothing.
            let list = self.with_retries(|| req.customize().send(&*client)).await?;
            for event in &list.data {
                out.push((event.id.as_str().to_owned(), render(event)?));
            }
            match list.data.last() {
                Some(last) if list.has_more => after = Some(last.id.as_str().to_owned()),
                _ => break,
            }
            if page + 1 == max_pages {
                tracing::warn!(max_pages, "more Stripe events than the reconciliation reads in one run");
            }
        }
        Ok(out)
    }
}

/// An event back to Stripe's JSON (the typed envelope, its object kept as raw JSON).
fn render(event: &stripe_core::Event) -> Result<String, ApiError> {
    let object: serde_json::Value = serde_json::from_str(&miniserde::json::to_string(&event.data.object))
        .map_err(|e| ApiError::internal().with_source(e))?;
    let previous = event
        .data
        .previous_attributes
        .as_ref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&miniserde::json::to_string(p)).ok());
    let mut data = serde_json::json!({"object": object});
    if let Some(p) = previous {
        data["previous_attributes"] = p;
    }
    Ok(serde_json::json!({
        "id": event.id.as_str(), "object": "event", "api_version": event.api_version,
        "created": event.created, "livemode": event.livemode, "pending_webhooks": event.pending_webhooks,
        "type": event.type_.as_str(), "data": data,
    })
    .to_string())
}

/// A Checkout Session as the checkout answer needs it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Where Stripe sends the buyer after paying or cancelling.
#[derive(Debug, Clone)]
pub struct CheckoutUrls {
    pub success: String,
    pub cancel: String,
}

impl CheckoutUrls {
    /// `PARLEY_CHECKOUT_SUCCESS_URL`, `PARLEY_CHECKOUT_CANCEL_URL` (http(s) URLs).
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let url = |name: &str| -> Result<String, ConfigError> {
            let v = config::required(src, name)?;
            if v.starts_with("https://") || v.starts_with("http://") {
                Ok(v)
            } else {
                Err(ConfigError::new(name, "must be an http(s) URL"))
            }
        };
        Ok(Self { success: url("PARLEY_CHECKOUT_SUCCESS_URL")?, cancel: url("PARLEY_CHECKOUT_CANCEL_URL")? })
    }
}

fn idempotency_key(key: &str) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::new(key).map_err(|e| ApiError::internal().with_source(e.to_string()))
}

fn retryable(e: &StripeError) -> bool {
    match e {
        StripeError::Stripe(_, status) => *status == 429 || *status >= 500,
        StripeError::ClientError(_) | StripeError::Timeout => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

/// One line about a Stripe error: its status, type and code — not its (verbose) Debug.
fn short(e: &StripeError) -> String {
    match e {
        StripeError::Stripe(err, status) => format!(
            "Stripe answered {status}: {:?} {}",
            err.type_,
            err.code.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// The webhook signing secrets, newest first (`PARLEY_STRIPE_WEBHOOK_SECRETS`, comma-separated,
/// or the secret `PARLEY_STRIPE_WEBHOOK_SECRETS_SECRET_ARN` names): while a secret is rolled,
/// both the old and the new one verify.
#[derive(Clone)]
pub struct WebhookSecrets(Option<SecretSetting<Vec<String>>>);

impl WebhookSecrets {
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self(SecretSetting::optional(
            src,
            "PARLEY_STRIPE_WEBHOOK_SECRETS",
            "PARLEY_STRIPE_WEBHOOK_SECRETS_SECRET_ARN",
            |list: &str| {
                let secrets: Vec<String> =
                    list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
                if secrets.is_empty() || secrets.iter().any(|s| !s.starts_with("whsec_")) {
                    return Err("must list one or more signing secrets (whsec_…), comma-separated".to_owned());
                }
                Ok(secrets)
            },
        )?))
    }

    /// Verifies `body` (the raw bytes) against `signature` (the `Stripe-Signature` header)
    /// with each secret in turn. A body whose signature verifies but that does not parse into
    /// a typed event is still verified: it is stored, so nothing Stripe sent is lost. `Err`
    /// is a 400 to answer, or a 503 when no secret is configured or it cannot be fetched.
    pub async fn verify(&self, body: &[u8], signature: &str) -> Result<Incoming, ApiError> {
        let secrets = match &self.0 {
            Some(secrets) => secrets.get().await?,
            None => {
                return Err(
                    ApiError::unavailable("Stripe webhooks").with_source("no webhook signing secret is configured")
                );
            }
        };
        check(&secrets, body, signature).map_err(|rejected| {
            tracing::warn!(reason = rejected.0, "webhook signature refused");
            ApiError::bad_request(format!("the signature does not verify: {}", rejected.0))
        })
    }
}

fn check(secrets: &[String], body: &[u8], signature: &str) -> Result<Incoming, Rejected> {
    let text = std::str::from_utf8(body).map_err(|_| Rejected("the body is not UTF-8"))?;
    let mut last = Rejected("no signing secret matched");
    for secret in secrets {
        match stripe_webhook::Webhook::construct_event(text, signature, secret) {
            Ok(_) | Err(stripe_webhook::WebhookError::BadParse(_)) => {
                return Ok(Incoming::from_payload(text.to_owned()));
            }
            Err(stripe_webhook::WebhookError::BadTimestamp(_)) => {
                // The signature matched this secret; only its age is wrong.
                return Err(Rejected("the signature timestamp is outside the 300 s tolerance"));
            }
            Err(stripe_webhook::WebhookError::BadHeader(_)) => {
                last = Rejected("the Stripe-Signature header is malformed");
            }
            Err(_) => {}
        }
    }
    Err(last)
}

/// Why a webhook delivery was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub &'static str);
