use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(rewrap_wallet_keys::FUNCTION, rewrap_wallet_keys::State::from_env).await;
    lambda_runtime::run(service_fn(|event| rewrap_wallet_keys::handle(&state, event))).await
}
