use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(phone_verification_check::FUNCTION, phone_verification_check::State::from_env)
            .await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(phone_verification_check::handle(&state, req).await) }))
        .await
}
