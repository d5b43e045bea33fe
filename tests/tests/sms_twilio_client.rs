//! The Twilio client against a scripted local server: Basic auth and form bodies go out,
//! 429/5xx are retried (a bounded number of times), other errors are not, and Twilio's
//! error object comes back with its code.

use std::sync::{Arc, Mutex};

use shared::sms::twilio::{Twilio, TwilioConfig, TwilioError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers each request with the next (status, body) of `script` (the last one repeats) and
/// records every request it saw.
async fn scripted(script: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let read = stream.read(&mut chunk).await.unwrap_or(0);
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            log.lock().unwrap().push(String::from_utf8_lossy(&buf).to_string());
            let (status, body) = script[n.min(script.len() - 1)];
            n += 1;
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
        }
    });
    (url, seen)
}

fn client(url: &str) -> Twilio {
    Twilio::new(TwilioConfig {
        account_sid: "ACtest".into(),
        auth_token: Some(shared::platform::secrets::SecretSetting::plain("TWILIO_AUTH_TOKEN", "tok".into())),
        verify_service_sid: "VAtest".into(),
        from: "+15005550006".into(),
        api_base: url.to_owned(),
        verify_base: url.to_owned(),
    })
}

const CREATED: &str = r#"{"sid":"SM123","status":"queued"}"#;

#[tokio::test]
async fn a_5xx_is_retried_and_the_message_then_sent_with_basic_auth_and_a_form_body() {
    // GIVEN Twilio answers 503 once, then 201
    let (url, seen) = scripted(vec![(503, "{}"), (201, CREATED)]).await;
    // WHEN a message is sent
    let sent = client(&url).send_message("+447400123456", "hi & bye", "http://cb/x").await.unwrap();
    // THEN it succeeded on the second request
    assert_eq!(sent.sid, "SM123");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    // AND the request used Basic auth (ACtest:tok) and a form body
    let req = &seen[1];
    assert!(req.starts_with("POST /2010-04-01/Accounts/ACtest/Messages.json"), "{req}");
    assert!(req.contains("authorization: Basic QUN0ZXN0OnRvaw=="), "{req}");
    assert!(req.contains("To=%2B447400123456&From=%2B15005550006&Body=hi+%26+bye&StatusCallback="), "{req}");
}

#[tokio::test]
async fn a_twilio_error_is_returned_with_its_code_and_not_retried() {
    let (url, seen) = scripted(vec![(400, r#"{"code":21610,"message":"unsubscribed","status":400}"#)]).await;
    let err = client(&url).send_message("+447400123456", "hi", "http://cb/x").await.unwrap_err();
    assert!(matches!(err, TwilioError::Api { status: 400, code: 21610, .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_429_is_retried_a_bounded_number_of_times() {
    let (url, seen) = scripted(vec![(429, r#"{"code":20429,"message":"Too Many Requests","status":429}"#)]).await;
    let err = client(&url).start_verification("+447400123456").await.unwrap_err();
    assert_eq!(err.code(), Some(20429));
    assert_eq!(seen.lock().unwrap().len(), 3);
}
