use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(subscription_get::FUNCTION, subscription_get::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(subscription_get::handle(&state, req).await) })).await
}
