use wallet_get::{FUNCTION, State, handle};

fn main() -> Result<(), shared::platform::runtime::Error> {
    shared::platform::runtime::run_http(FUNCTION, State::from_env, handle)
}
