//! Request extractors whose rejections are problem+json: axum's own `Json`, `Query` and
//! `Path` answer malformed input with `text/plain`; these replace or wrap them so every error
//! of the API goes through `ApiError`.

use super::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jobworks_domain::file::suggest::{closest, list};
use jobworks_protocol::DiagnosticView;

/// A JSON body (request) or JSON answer (response).
///
/// As a request body: `Content-Type` must be `application/json` or `application/*+json`
/// (415 otherwise); a body over the router's limit (`--max-body`) is refused with 413; JSON
/// that does not fit the type is 400, except a field the type does not declare, which is
/// 422 naming the field's path and the closest declared field (see `body_error`).
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON: send `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the request body is larger than this server accepts (its `--max-body` \
                         limit); send less, or raise the limit"
                            .into(),
                    )
                } else {
                    ApiError::BadRequest(format!(
                        "unreadable request body: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| body_error(&e.path().to_string(), e.inner()))?;
        deserializer.end().map_err(|e| body_error(".", &e))?;
        Ok(Json(value))
    }
}

/// `application/json` or any `application/*+json`, ignoring case and parameters.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// The error for a body that is not JSON of the expected shape: `path` is where it went
/// wrong (`files[0].contnet`, `.` at the top). A field the type does not declare (serde's
/// `deny_unknown_fields`) is [`ApiError::Invalid`] (422) with one diagnostic whose `field` is
/// the field's path and whose hint names the closest declared field (the same did-you-mean
/// rule as job files); anything else is [`ApiError::BadRequest`] (400) with the line and
/// column.
pub(crate) fn body_error(path: &str, error: &serde_json::Error) -> ApiError {
    let message = error.to_string();
    let (line, column) = (error.line(), error.column());
    if let Some((field, expected)) = unknown_field(&message) {
        // serde points after the key's closing quote: point at its opening quote instead
        let column = column.saturating_sub(field.chars().count() + 1).max(1);
        let hint = match closest(&field, expected.iter().map(String::as_str)) {
            Some(close) => Some(format!("did you mean `{close}`?")),
            None if expected.is_empty() => Some("this body takes no fields".to_owned()),
            None => Some(format!(
                "known fields: {}",
                list(expected.iter().map(String::as_str))
            )),
        };
        let detail = match &hint {
            Some(hint) => format!("unknown field `{path}` in the request body; {hint}"),
            None => format!("unknown field `{path}` in the request body"),
        };
        return ApiError::Invalid {
            detail,
            errors: vec![DiagnosticView {
                file: "request body".into(),
                line,
                column,
                field: path.to_owned(),
                message: format!("unknown field `{field}`"),
                hint,
            }],
        };
    }
    let at = if path == "." || path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    };
    match error.classify() {
        serde_json::error::Category::Data => {
            ApiError::BadRequest(format!("invalid request body{at}: {message}"))
        }
        _ => ApiError::BadRequest(format!("malformed JSON body: {message}")),
    }
}

/// The field and the expected fields of serde's ``unknown field `x`, expected one of `a`,
/// `b` `` (or ``expected `a` ``, or `there are no fields`), or `None` for other messages.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = match rest.split_once("expected") {
        Some((_, names)) => names
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    Some((field.to_owned(), expected))
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path: {}", rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only deserialized
    struct Body {
        params: Option<serde_json::Value>,
        count: Option<u32>,
        files: Option<Vec<File>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only deserialized
    struct File {
        name: String,
        content: String,
    }

    fn error_of(text: &str) -> ApiError {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let e = serde_path_to_error::deserialize::<_, Body>(&mut deserializer)
            .expect_err("the body is refused");
        body_error(&e.path().to_string(), e.inner())
    }

    #[test]
    fn unknown_fields_are_named_with_the_closest_declared_one() {
        let cases: &[(&str, &str, &str, usize)] = &[
            (r#"{"parms": {}}"#, "parms", "did you mean `params`?", 2),
            (r#"{"cuont": 2}"#, "cuont", "did you mean `count`?", 2),
            (
                r#"{"files": [{"name": "a", "contnet": ""}]}"#,
                "files[0].contnet",
                "did you mean `content`?",
                26,
            ),
            (
                r#"{"zzz": 1}"#,
                "zzz",
                "known fields: `params`, `count`, `files`",
                2,
            ),
        ];
        for (body, field, hint, column) in cases {
            match error_of(body) {
                ApiError::Invalid { detail, errors } => {
                    assert_eq!(errors.len(), 1, "{body}");
                    assert_eq!(errors[0].field, *field, "{body}");
                    assert_eq!(errors[0].hint.as_deref(), Some(*hint), "{body}");
                    assert_eq!((errors[0].line, errors[0].column), (1, *column), "{body}");
                    assert!(detail.contains(field) && detail.contains(hint), "{detail}");
                }
                other => panic!("{body}: expected 422, got {other:?}"),
            }
        }
    }

    #[test]
    fn other_shape_errors_stay_bad_requests() {
        for body in [r#"{"count": "two"}"#, r#"{"count": 1"#, "[1]"] {
            assert!(
                matches!(error_of(body), ApiError::BadRequest(_)),
                "{body} is a 400"
            );
        }
    }

    #[test]
    fn json_media_types() {
        let cases = [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("application/merge-patch+json"), true),
            (Some("text/json"), false),
            (Some("application/jsonx"), false),
            (Some("text/plain"), false),
            (None, false),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, value.parse().expect("header value"));
            }
            assert_eq!(json_content_type(&headers), expected, "{value:?}");
        }
    }
}
