//! A function started with a required setting missing or malformed exits non-zero with
//! one line naming the setting — so a bad deploy fails its first init clearly.

use std::process::Command;

use parley_e2e::binary;

fn start(bin: &str, env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(binary(bin)).env_clear().envs(env.iter().copied()).output().expect("the binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_function_with_a_missing_setting_exits_naming_it() {
    // GIVEN no environment at all WHEN the health function starts
    let (code, stderr) = start("health", &[]);
    // THEN it exits non-zero with one line naming the first missing setting
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PARLEY_DATABASE_URL is not set"), "{stderr}");
}

#[test]
fn a_malformed_setting_is_named_without_its_value() {
    let (code, stderr) = start("session-anonymous", &[("PARLEY_DATABASE_URL", "mysql://nope:hunter2@db")]);
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PARLEY_DATABASE_URL is not a valid postgres:// URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the value leaked: {stderr}");
}

#[test]
fn a_short_secret_is_refused_at_start() {
    let (code, stderr) = start(
        "session-me",
        &[
            ("PARLEY_JWT_ISSUER", "https://issuer.test"),
            ("PARLEY_JWT_AUDIENCE", "parley"),
            ("PARLEY_ANON_TOKEN_SECRET", "short"),
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("PARLEY_ANON_TOKEN_SECRET must be at least 32 bytes long"), "{stderr}");
    assert!(!stderr.contains("short\n") && !stderr.contains("=short"), "{stderr}");
}

#[test]
fn migrate_without_its_url_exits_naming_it() {
    let (code, stderr) = start("migrate", &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("PARLEY_MIGRATE_DATABASE_URL is not set"), "{stderr}");
}
