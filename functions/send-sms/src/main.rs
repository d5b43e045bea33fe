// The send loop's future nests deeply (outbox → Twilio client → lazily fetched token).
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(send_sms::FUNCTION, send_sms::State::from_env).await;
    lambda_runtime::run(service_fn(|event| send_sms::handle(&state, event))).await
}
