//! Twilio's webhook signature (`X-Twilio-Signature`), hand-written because no maintained
//! Rust Twilio library exists; the scheme is small and pinned by Twilio's published vectors.
//!
//! Guarantees: the signature is base64(HMAC-SHA1(auth token, url ‖ params)) where `url` is
//! the public URL Twilio called (configured base + path + raw query — never the URL API
//! Gateway hands the function) and `params` are the POST parameters sorted by name (a
//! repeated name's values sorted too), each written as name then value; comparison is
//! constant-time; the URL with and without an explicit default port (`:443`, `:80`) is
//! accepted, as Twilio's own libraries do.

use base64::Engine;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// The signature Twilio sends for a POST to `url` with form parameters `params`.
pub fn compute(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for `url` and `params`, trying `url` as given and with
/// its default port added or removed.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let given = signature.trim().as_bytes();
    port_variants(url).iter().any(|candidate| compute(auth_token, candidate, params).as_bytes().ct_eq(given).into())
}

/// `url` itself and the same URL with the scheme's default port toggled.
fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Ok(parsed) = reqwest::Url::parse(url) else { return out };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return out,
    };
    let Some(host) = parsed.host_str() else { return out };
    let scheme_host = format!("{}://{host}", parsed.scheme());
    let rest_start = url.find("://").map(|i| i + 3).and_then(|i| url[i..].find(['/', '?']).map(|j| i + j));
    let rest = rest_start.map(|i| &url[i..]).unwrap_or("");
    let explicit = format!("{scheme_host}:{default}{rest}");
    let implicit = format!("{scheme_host}{rest}");
    // The URL parser drops a default port, so compare the text as written.
    if url.starts_with(&format!("{scheme_host}:{default}")) {
        out.push(implicit);
    } else if parsed.port().is_none() {
        out.push(explicit);
    }
    out
}

/// The form parameters of a URL-encoded body, in order, repeated names kept.
pub fn form_params(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const URL_443: &str = "https://mycompany.com:443/myapp.php?foo=1&bar=2";

    #[test]
    fn matches_twilios_published_vector() {
        // GIVEN Twilio's documented example WHEN signed THEN the documented signature results
        assert_eq!(compute(b"12345", URL, &twilio_params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn matches_twilios_published_vector_with_an_explicit_port() {
        assert_eq!(compute(b"12345", URL_443, &twilio_params()), "kvajT1Ptam85bY51eRf/AJRuM3w=");
    }

    #[test]
    fn parameter_order_in_the_body_does_not_matter() {
        let mut shuffled = twilio_params();
        shuffled.reverse();
        assert!(verify(b"12345", URL, &shuffled, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_signature_over_the_url_with_or_without_the_default_port_is_accepted() {
        // GIVEN Twilio signed the URL with :443 WHEN we know it without THEN it still verifies
        assert!(verify(b"12345", URL, &twilio_params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        // AND the other way round
        assert!(verify(b"12345", URL_443, &twilio_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_wrong_token_url_or_parameter_is_refused() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!verify(b"54321", URL, &twilio_params(), sig));
        assert!(!verify(b"12345", "https://mycompany.com/other.php?foo=1&bar=2", &twilio_params(), sig));
        let mut changed = twilio_params();
        changed[2].1 = "9999".into();
        assert!(!verify(b"12345", URL, &changed, sig));
        assert!(!verify(b"12345", URL, &twilio_params(), ""));
    }

    #[test]
    fn repeated_names_have_their_values_sorted() {
        // GIVEN the same name twice in either order THEN the signature is the same
        let a = vec![("M".to_string(), "b".to_string()), ("M".to_string(), "a".to_string())];
        let b = vec![("M".to_string(), "a".to_string()), ("M".to_string(), "b".to_string())];
        assert_eq!(compute(b"k", "https://x/y", &a), compute(b"k", "https://x/y", &b));
    }

    #[test]
    fn a_local_http_url_with_a_port_is_signed_as_written() {
        let v = port_variants("http://127.0.0.1:3000/webhooks/twilio/status");
        assert_eq!(v, vec!["http://127.0.0.1:3000/webhooks/twilio/status".to_owned()]);
    }
}
