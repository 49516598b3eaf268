//! The admin API's errors: one JSON shape, `{"error": {"code", "message"}}`, with the HTTP
//! status that says what happened. Bad input is a 4xx naming what was wrong, never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::registry::Refused;

/// Largest request body the admin API reads; more is answered 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: `field` is wrong.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("{field}: {message}"),
        )
    }

    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
    }

    /// 503: a part of the switch did not answer.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        match r {
            Refused::Invalid { field, message } => ApiError::invalid(&field, message),
            Refused::NotFound(what) => ApiError::not_found(what),
            Refused::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            Refused::Store(m) => ApiError::unavailable(format!("not stored: {m}")),
        }
    }
}

/// Reads a request body (at most [`BODY_LIMIT`] bytes: 413 beyond) and its JSON into `T`.
pub async fn json_body<T: DeserializeOwned>(p: actix_web::web::Payload) -> Result<T, ApiError> {
    body(&raw_body(p).await?)
}

/// A request's body as sent, up to the body limit (413 past it).
pub async fn raw_body(mut p: actix_web::web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures::StreamExt;
    let mut buf = Vec::new();
    while let Some(chunk) = p.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid("body", e))?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("request body over {BODY_LIMIT} bytes"),
    )
}

/// Reads a JSON body into `T`; a 400 names the field that is wrong (`tps: invalid type...`).
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > BODY_LIMIT {
        return Err(too_large());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(&field, inner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        tps: u32,
        name: String,
    }

    #[test]
    fn a_bad_body_names_its_field() {
        let e = body::<T>(br#"{"tps": "ten", "name": "x"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("tps: invalid type"), "{}", e.message);
        let e = body::<T>(br#"{"tps": 1}"#).unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
        let e = body::<T>(br#"{"tps": 1, "name": "x", "extra": 2}"#).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
        let e = body::<T>(b"not json").unwrap_err();
        assert!(e.message.starts_with("body: "), "{}", e.message);
        let big = vec![b' '; BODY_LIMIT + 1];
        assert_eq!(
            body::<T>(&big).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
