use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(cart_add::FUNCTION, cart_add::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(cart_add::handle(&state, req).await) })).await
}
