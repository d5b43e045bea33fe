use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(wallet_sign::FUNCTION, wallet_sign::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(wallet_sign::handle(&state, req).await) })).await
}
