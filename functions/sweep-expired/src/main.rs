use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(sweep_expired::FUNCTION, sweep_expired::State::from_env).await;
    lambda_runtime::run(service_fn(|event| sweep_expired::handle(&state, event))).await
}
