use phone_verification_check::{FUNCTION, State, handle};

fn main() -> Result<(), shared::platform::runtime::Error> {
    shared::platform::runtime::run_http(FUNCTION, State::from_env, handle)
}
