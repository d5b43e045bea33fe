use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(subscription_create::FUNCTION, subscription_create::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(subscription_create::handle(&state, req).await) })).await
}
