//! IAM sign-in to the database (docs/deploy.md, "Contract for the code", point 2): with
//! `PARLEY_DB_IAM_AUTH=true` a function's pool signs in with an RDS IAM token, made for
//! each new connection, instead of a password in the URL. PostgreSQL itself cannot check
//! such a token, so a small server speaking PostgreSQL's start-up protocol stands in for
//! RDS Proxy and records the password it is sent.

use std::sync::{Arc, Mutex};

use lambda_http::Body;
use parley_e2e::env_with;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accepts connections, asks each for a cleartext password, records it and hangs up.
async fn password_recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                loop {
                    // A start-up packet: length, then the protocol code (or the TLS request).
                    let len = socket.read_i32().await.unwrap() as usize;
                    let mut body = vec![0; len - 4];
                    socket.read_exact(&mut body).await.unwrap();
                    if body[..4] == 80_877_103i32.to_be_bytes() {
                        socket.write_all(b"N").await.unwrap(); // no TLS here: loopback
                        continue;
                    }
                    break;
                }
                // AuthenticationCleartextPassword, then the client's PasswordMessage.
                socket.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await.unwrap();
                assert_eq!(socket.read_u8().await.unwrap(), b'p');
                let len = socket.read_i32().await.unwrap() as usize;
                let mut password = vec![0; len - 4];
                socket.read_exact(&mut password).await.unwrap();
                password.pop(); // the terminating NUL
                record.lock().unwrap().push(String::from_utf8(password).unwrap());
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn each_new_connection_signs_in_with_an_rds_iam_token() {
    // GIVEN a function whose database URL has no password, with IAM sign-in on
    let (port, seen) = password_recorder().await;
    let url = format!("postgres://parley_api@127.0.0.1:{port}/parley?connect_timeout=2");
    let state = session_anonymous::State::from_source(&env_with(&[
        ("PARLEY_DATABASE_URL", &url),
        ("PARLEY_DB_IAM_AUTH", "true"),
        ("PARLEY_DB_POOL_SIZE", "1"),
    ]))
    .await
    .expect("a password-less URL is valid with IAM sign-in");
    // WHEN two requests need a connection (the stand-in hangs up, so each opens a new one)
    for _ in 0..2 {
        let req = http::Request::builder().method("POST").uri("/v1/sessions/anonymous").body(Body::Empty).unwrap();
        let resp = session_anonymous::handle(&state, req).await;
        // THEN the refused sign-in is an unavailable database, as for any outage
        assert_eq!(resp.status(), 503);
    }
    // AND each connection sent an IAM token for that host, port and user as its password
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let key_id = parley_e2e::setting("AWS_ACCESS_KEY_ID");
    let region = parley_e2e::setting("AWS_REGION");
    for token in &seen {
        assert!(token.starts_with(&format!("127.0.0.1:{port}/?")), "{token}");
        for part in [
            "Action=connect".to_owned(),
            "DBUser=parley_api".to_owned(),
            "X-Amz-Expires=900".to_owned(),
            format!("X-Amz-Credential={key_id}%2F"),
            format!("%2F{region}%2Frds-db%2Faws4_request"),
        ] {
            assert!(token.contains(&part), "{part} missing from {token}");
        }
    }
}
