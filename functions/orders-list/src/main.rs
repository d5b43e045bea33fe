use lambda_http::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let state = shared::platform::runtime::start(orders_list::FUNCTION, orders_list::State::from_env).await;
    lambda_http::run(service_fn(|req| async { Ok::<_, Error>(orders_list::handle(&state, req).await) })).await
}
