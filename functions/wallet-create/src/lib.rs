//! `POST /v1/wallets` — create the signed-in user's custodial wallet.
//!
//! 201 `{"id", "address", "created_at", "balance"}` the first time; 200 with the same wallet
//! after (one per user). The key is generated here, encrypted under KMS with a context
//! binding it to the wallet and user, and stored only as ciphertext. KMS down → 503 and no
//! wallet. Outside production a faucet credits new wallets (`PARLEY_WALLET_FAUCET_CENTS`,
//! default 1 000 000; 0 disables). Honours `Idempotency-Key`.

use shared::ApiError;
use shared::platform::config::{self, ConfigError, ProcessEnv, Source};
use shared::platform::http::{self, Request, Response, StatusCode};
use shared::platform::idempotency::IdempotencyStore;
use shared::platform::state::ApiState;
use shared::wallets;
use shared::wallets::custody::KeyCustody;

pub const FUNCTION: &str = "wallet-create";

#[derive(Clone)]
pub struct State {
    api: ApiState,
    custody: KeyCustody,
    idempotency: IdempotencyStore,
    faucet_cents: i64,
}

impl State {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv).await
    }

    /// Reads the API settings, `PARLEY_KMS_KEY_ID`, `PARLEY_TABLE_NAME`,
    /// `PARLEY_WALLET_FAUCET_CENTS` and `PARLEY_STAGE` (the faucet must be 0 in `prod`).
    pub async fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let api = ApiState::from_source(src)?;
        let key_id = config::required(src, "PARLEY_KMS_KEY_ID")?;
        let table = config::required(src, "PARLEY_TABLE_NAME")?;
        let faucet_cents: i64 = config::parsed_or(src, "PARLEY_WALLET_FAUCET_CENTS", 1_000_000)?;
        if faucet_cents < 0 {
            return Err(ConfigError::new("PARLEY_WALLET_FAUCET_CENTS", "must not be negative"));
        }
        if faucet_cents > 0 && config::optional(src, "PARLEY_STAGE").as_deref() == Some("prod") {
            return Err(ConfigError::new("PARLEY_WALLET_FAUCET_CENTS", "must be 0 when PARLEY_STAGE is prod"));
        }
        let aws = shared::platform::aws::load().await;
        Ok(Self {
            api,
            custody: KeyCustody::new(shared::platform::aws::kms(&aws), key_id),
            idempotency: IdempotencyStore::new(shared::platform::aws::dynamodb(&aws), table),
            faucet_cents,
        })
    }

    /// The same state with another key custody (tests point it at an unreachable KMS).
    pub fn with_custody(mut self, custody: KeyCustody) -> Self {
        self.custody = custody;
        self
    }
}

pub async fn handle(state: &State, req: Request) -> Response {
    http::serve(FUNCTION, req, |req| async move { post(state, &req).await }).await
}

async fn post(state: &State, req: &Request) -> Result<Response, ApiError> {
    let caller = state.api.identity.caller(req).await?;
    let user_id = caller.require_user()?;
    let request_id = http::request_id(req);
    state
        .idempotency
        .run(FUNCTION, &caller.key(), req, || async {
            let (wallet, created) =
                wallets::create(&state.api.db, &caller, &state.custody, user_id, state.faucet_cents, &request_id)
                    .await?;
            http::json(if created { StatusCode::CREATED } else { StatusCode::OK }, &wallet)
        })
        .await
}
