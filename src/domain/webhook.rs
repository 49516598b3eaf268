//! Webhooks as the Standard Webhooks specification has them: the signature, what an
//! endpoint's answer means, when to try again, and which endpoint a URL is (for the
//! per-endpoint limit on requests in flight).
//!
//! A webhook is signed with HMAC-SHA256 over `"<webhook-id>.<webhook-timestamp>.<body>"`
//! keyed by the secret's bytes (`whsec_<base64>`), sent as `webhook-signature: v1,<base64>`.
//! The same `webhook-id` goes with every attempt, so a receiver can drop repeats.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A webhook secret that is not `whsec_` and base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ and base64")]
pub struct BadSecret;

/// The `webhook-signature` header value for one attempt.
pub fn signature(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> Result<String, BadSecret> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or(BadSecret)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", STANDARD.encode(ctx.sign().as_ref())))
}

/// What an attempt's result means for the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the endpoint wants no more of this message's webhooks.
    Gone,
    /// Anything else (a timeout, no connection, 5xx, 429, other 4xx): try again later.
    Again,
}

/// The verdict on an HTTP status (`None`: no answer at all).
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        _ => Verdict::Again,
    }
}

/// The endpoint a URL names, `scheme://host:port` in lower case: requests in flight are
/// limited per endpoint, so one slow receiver cannot hold the others' webhooks. `None` for
/// what is not an http(s) URL.
pub fn endpoint(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    // user info never counts
    let host_port = authority.rsplit('@').next()?;
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(':') {
        // an IPv6 literal without a port ends in ']'
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    };
    let hp = host_port.to_ascii_lowercase();
    Some(if has_port {
        format!("{scheme}://{hp}")
    } else {
        format!("{scheme}://{hp}:{default_port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_as_the_specification_example() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(signature("nope", "x", 1, b""), Err(BadSecret));
        assert_eq!(signature("whsec_***", "x", 1, b""), Err(BadSecret));
    }

    #[test]
    fn only_2xx_delivers_and_only_410_gives_up() {
        assert_eq!(verdict(Some(200)), Verdict::Delivered);
        assert_eq!(verdict(Some(204)), Verdict::Delivered);
        assert_eq!(verdict(Some(410)), Verdict::Gone);
        for s in [
            None,
            Some(301),
            Some(400),
            Some(404),
            Some(429),
            Some(500),
            Some(503),
        ] {
            assert_eq!(verdict(s), Verdict::Again, "{s:?}");
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("https://Example.com/dlr?x=1").as_deref(),
            Some("https://example.com:443")
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9000/hook").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(endpoint("http://u:p@h:81/").as_deref(), Some("http://h:81"));
        assert_eq!(
            endpoint("http://[::1]/x").as_deref(),
            Some("http://[::1]:80")
        );
        assert_eq!(
            endpoint("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(endpoint("ftp://h/"), None);
        assert_eq!(endpoint("http:///x"), None);
        assert_eq!(endpoint("nonsense"), None);
    }
}
