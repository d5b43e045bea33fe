use migrate::{FUNCTION, State, handle};

fn main() -> Result<(), shared::platform::runtime::Error> {
    shared::platform::runtime::run_job(FUNCTION, State::from_env, handle)
}
