use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(migrate::FUNCTION, migrate::State::from_env).await;
    lambda_runtime::run(service_fn(|event| migrate::handle(&state, event))).await
}
