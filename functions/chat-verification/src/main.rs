use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(chat_verification::FUNCTION, chat_verification::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(chat_verification::handle(&state, req).await) })).await
}
