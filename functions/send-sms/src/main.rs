// The send loop's future nests deeply (outbox → Twilio client → lazily fetched token).
#![recursion_limit = "256"]

use send_sms::{FUNCTION, State, handle};

fn main() -> Result<(), shared::platform::runtime::Error> {
    shared::platform::runtime::run_job(FUNCTION, State::from_env, handle)
}
