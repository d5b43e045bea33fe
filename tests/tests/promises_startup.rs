//! A production start with a wallet faucet is refused (README.md, Configuration:
//! `PARLEY_WALLET_FAUCET_CENTS` "must be 0 when `PARLEY_STAGE=prod`") — by the state and by
//! the built binary, with one line naming the setting.

use std::process::Command;

use parley_e2e::*;

#[tokio::test]
async fn wallet_create_refuses_a_production_state_with_a_faucet() {
    // GIVEN the stack's settings with PARLEY_STAGE=prod and a faucet
    for faucet in [Some("1"), Some("1000000"), None] {
        let mut env = env_with(&[("PARLEY_STAGE", "prod")]);
        match faucet {
            Some(cents) => env.insert("PARLEY_WALLET_FAUCET_CENTS".into(), cents.into()),
            None => env.remove("PARLEY_WALLET_FAUCET_CENTS"), // the default faucet is 1 000 000
        };
        // WHEN wallet-create builds its state THEN it is refused, naming the setting
        let refused = wallet_create::State::from_source(&env).await.err();
        let err = refused.unwrap_or_else(|| panic!("a prod start with faucet {faucet:?} was accepted"));
        assert_eq!(err.name, "PARLEY_WALLET_FAUCET_CENTS", "{err}");
        assert_eq!(err.to_string(), "PARLEY_WALLET_FAUCET_CENTS must be 0 when PARLEY_STAGE is prod");
    }
    // AND a production start without a faucet, or a faucet outside production, is fine
    for (stage, cents) in [("prod", "0"), ("dev", "5")] {
        let env = env_with(&[("PARLEY_STAGE", stage), ("PARLEY_WALLET_FAUCET_CENTS", cents)]);
        assert!(wallet_create::State::from_source(&env).await.is_ok(), "{stage} with {cents}");
    }
}

#[test]
fn the_wallet_create_binary_exits_with_one_line_naming_the_faucet_in_prod() {
    // GIVEN every setting wallet-create needs, PARLEY_STAGE=prod and a faucet of 5 cents
    let mut env = env_with(&[("PARLEY_STAGE", "prod"), ("PARLEY_WALLET_FAUCET_CENTS", "5")]);
    env.remove("AWS_LAMBDA_RUNTIME_API");
    // WHEN the built binary starts
    let out = Command::new(binary("wallet-create")).env_clear().envs(&env).output().expect("the binary runs");
    // THEN it exits non-zero with one line on stderr naming the setting
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PARLEY_WALLET_FAUCET_CENTS must be 0 when PARLEY_STAGE is prod"), "{stderr}");
}
