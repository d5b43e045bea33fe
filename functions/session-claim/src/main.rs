use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(session_claim::FUNCTION, session_claim::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(session_claim::handle(&state, req).await) })).await
}
