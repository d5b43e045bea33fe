use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(twilio_status_webhook::FUNCTION, twilio_status_webhook::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(twilio_status_webhook::handle(&state, req).await) })).await
}
