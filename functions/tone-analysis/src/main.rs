use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(tone_analysis::FUNCTION, tone_analysis::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(tone_analysis::handle(&state, req).await) })).await
}
