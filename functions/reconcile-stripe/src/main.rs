use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(reconcile_stripe::FUNCTION, reconcile_stripe::State::from_env).await;
    lambda_runtime::run(service_fn(|event| reconcile_stripe::handle(&state, event))).await
}
