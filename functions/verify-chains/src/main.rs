use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(verify_chains::FUNCTION, verify_chains::State::from_env).await;
    lambda_runtime::run(service_fn(|event| verify_chains::handle(&state, event))).await
}
