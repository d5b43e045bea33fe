use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(phone_verification_start::FUNCTION, phone_verification_start::State::from_env)
            .await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(phone_verification_start::handle(&state, req).await) }))
        .await
}
