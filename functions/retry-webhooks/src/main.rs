use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(retry_webhooks::FUNCTION, retry_webhooks::State::from_env).await;
    lambda_runtime::run(service_fn(|event| retry_webhooks::handle(&state, event))).await
}
