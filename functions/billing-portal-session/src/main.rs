use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state =
        shared::platform::runtime::start(billing_portal_session::FUNCTION, billing_portal_session::State::from_env)
            .await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(billing_portal_session::handle(&state, req).await) }))
        .await
}
