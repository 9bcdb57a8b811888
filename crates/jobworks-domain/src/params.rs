//! Typed job parameters: declarations, values, and validation of values given at trigger
//! time.
//!
//! A job declares its parameters in its file (`[job.params.<name>]`, see [`crate::file`]);
//! a trigger (API, CLI `k=v`, UI form) gives values as JSON. [`validate_params`] checks the
//! given values against the declarations and fills in defaults; [`check_value`] checks one
//! typed value against one declaration (the file validator uses it for defaults).

use crate::file::suggest::{closest, list};
use jobworks_schedule::CronExpr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Declared type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Text.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// `true` / `false`.
    Bool,
    /// One of a declared list of strings.
    Enum,
}

impl ParamType {
    /// Every type, in the order the docs list them.
    pub const ALL: [ParamType; 5] = [
        ParamType::String,
        ParamType::Int,
        ParamType::Float,
        ParamType::Bool,
        ParamType::Enum,
    ];

    /// The snake_case name used in job files: `string`, `int`, `float`, `bool`, `enum`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Enum => "enum",
        }
    }

    /// The type named `name` in a job file, if any (exact, lowercase).
    pub fn from_name(name: &str) -> Option<ParamType> {
        ParamType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Extra format checks for string parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamFormat {
    /// `local@domain`.
    Email,
    /// IPv4 or IPv6 address.
    Ip,
    /// TCP/UDP port 1-65535.
    Port,
    /// Absolute URL with a scheme and host.
    Url,
    /// A cron expression Jobworks accepts.
    Cron,
}

impl ParamFormat {
    /// Every format, in the order the docs list them.
    pub const ALL: [ParamFormat; 5] = [
        ParamFormat::Email,
        ParamFormat::Ip,
        ParamFormat::Port,
        ParamFormat::Url,
        ParamFormat::Cron,
    ];

    /// The snake_case name used in job files: `email`, `ip`, `port`, `url`, `cron`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamFormat::Email => "email",
            ParamFormat::Ip => "ip",
            ParamFormat::Port => "port",
            ParamFormat::Url => "url",
            ParamFormat::Cron => "cron",
        }
    }

    /// The format named `name` in a job file, if any (exact, lowercase).
    pub fn from_name(name: &str) -> Option<ParamFormat> {
        ParamFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
    }
}

/// A declared parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name: `[A-Za-z_][A-Za-z0-9_]*`; reaches processes as `JOBWORKS_PARAM_<NAME upper>`.
    pub name: String,
    /// Type of values.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Shown in help and the UI.
    #[serde(default)]
    pub description: String,
    /// Used when the trigger gives no value; `None` + not given = error "missing required".
    pub default: Option<ParamValue>,
    /// Allowed values for `enum`.
    #[serde(default)]
    pub values: Vec<String>,
    /// Regex a string value must fully match.
    pub pattern: Option<String>,
    /// Inclusive lower bound for numbers (and string length for strings).
    pub min: Option<f64>,
    /// Inclusive upper bound for numbers (and string length for strings).
    pub max: Option<f64>,
    /// Format check for strings.
    pub format: Option<ParamFormat>,
    /// Secret values are masked in listings and logs of the API.
    #[serde(default)]
    pub secret: bool,
}

impl ParamSpec {
    /// A declaration of `name` with type `kind` and nothing else: no default (so required),
    /// no constraints, not secret.
    pub fn new(name: impl Into<String>, kind: ParamType) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            description: String::new(),
            default: None,
            values: Vec::new(),
            pattern: None,
            min: None,
            max: None,
            format: None,
            secret: false,
        }
    }

    /// Whether a trigger must give a value: there is no default.
    pub fn required(&self) -> bool {
        self.default.is_none()
    }
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String (also enum values).
    String(String),
}

impl ParamValue {
    /// The text a process sees in its environment variable: integers in decimal, floats in
    /// Rust's shortest round-trip form, booleans as `true`/`false`.
    pub fn to_env_string(&self) -> String {
        match self {
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::String(s) => s.clone(),
        }
    }

    /// `boolean`, `integer`, `float` or `string`: the word used in "found ..." messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Bool(_) => "boolean",
            ParamValue::Int(_) => "integer",
            ParamValue::Float(_) => "float",
            ParamValue::String(_) => "string",
        }
    }
}

/// The environment variable name of a parameter: `JOBWORKS_PARAM_` + the name in upper case.
pub fn env_var_name(param: &str) -> String {
    format!("JOBWORKS_PARAM_{}", param.to_ascii_uppercase())
}

/// Whether `name` is a valid parameter name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A parameter value given at trigger time (or a declared default) that is not acceptable.
///
/// Displays as ``param `port`: 70000 is above the maximum 65535``, followed by
/// `\n  hint: ...` when there is a hint. Messages never repeat the value of a `secret`
/// parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter name as declared (or as given, for unknown names).
    pub param: String,
    /// What is wrong: a lowercase fragment without a trailing period.
    pub message: String,
    /// How to fix it, e.g. ``did you mean `port`?``.
    pub hint: Option<String>,
}

impl ParamError {
    fn new(param: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            param: param.to_owned(),
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: Option<String>) -> ParamError {
        self.hint = hint;
        self
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "param `{}`: {}", self.param, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParamError {}

/// Validates the values given at trigger time against a job's declared parameters.
///
/// `given` maps parameter names to JSON values. Values are converted to the declared type;
/// strings are coerced so that a CLI's `k=v` works: `"42"` for an `int`, `"2.5"` for a
/// `float`, `"true"`/`"false"` (any case) for a `bool`; surrounding whitespace is ignored
/// for numbers and booleans. JSON numbers are accepted for `float` params; an `int` param
/// takes only whole JSON numbers in the `i64` range. Converted values are then checked
/// against `min`/`max` (numbers: the value; strings: the length in characters), `pattern`
/// (full match), `format` and enum `values`.
///
/// Returns every parameter in declaration order with defaults filled in. Errors: one
/// [`ParamError`] per bad value, per required parameter (no default) that is not given, and
/// per given name that is not declared (with a did-you-mean hint); errors for declared
/// parameters come first, in declaration order, then unknown names in name order.
pub fn validate_params(
    specs: &[ParamSpec],
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<(String, ParamValue)>, Vec<ParamError>> {
    let mut values = Vec::with_capacity(specs.len());
    let mut errors = Vec::new();
    for spec in specs {
        match given.get(&spec.name) {
            Some(json) => match coerce_value(spec, json).and_then(|value| {
                check_value(spec, &value)?;
                Ok(value)
            }) {
                Ok(value) => values.push((spec.name.clone(), value)),
                Err(error) => errors.push(error),
            },
            None => match &spec.default {
                Some(default) => values.push((spec.name.clone(), default.clone())),
                None => errors.push(ParamError::new(&spec.name, "required but not given")),
            },
        }
    }
    for name in given.keys() {
        if specs.iter().any(|spec| &spec.name == name) {
            continue;
        }
        let hint = if specs.is_empty() {
            Some("this job declares no params".to_owned())
        } else {
            let names = specs.iter().map(|spec| spec.name.as_str());
            Some(match closest(name, names.clone()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("declared params: {}", list(names)),
            })
        };
        errors.push(ParamError::new(name, "unknown param").with_hint(hint));
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// Converts one JSON value to the declared type of `spec`, with the string coercions of
/// [`validate_params`]. Does not check constraints (see [`check_value`]).
///
/// Errors: a [`ParamError`] like ``expected an integer, found `abc` `` when the value has
/// the wrong type or does not parse.
pub fn coerce_value(spec: &ParamSpec, json: &serde_json::Value) -> Result<ParamValue, ParamError> {
    use serde_json::Value as Json;
    let found = |what: &str| -> ParamError {
        let shown = if spec.secret {
            describe_json_type(json).to_owned()
        } else {
            describe_json(json)
        };
        ParamError::new(&spec.name, format!("expected {what}, found {shown}"))
    };
    match spec.kind {
        ParamType::String | ParamType::Enum => {
            match json {
                Json::String(text) => Ok(ParamValue::String(text.clone())),
                Json::Number(_) | Json::Bool(_) if !spec.secret => Err(found("a string")
                    .with_hint(Some(format!("send it as a JSON string: \"{json}\"")))),
                _ => Err(found("a string")),
            }
        }
        ParamType::Int => match json {
            Json::Number(number) => match number.as_i64() {
                Some(int) => Ok(ParamValue::Int(int)),
                None if number.is_u64() => Err(ParamError::new(
                    &spec.name,
                    format!(
                        "{} is out of range for a 64-bit integer",
                        shown(spec, number)
                    ),
                )),
                None => Err(found("an integer")),
            },
            Json::String(text) => match text.trim().parse::<i64>() {
                Ok(int) => Ok(ParamValue::Int(int)),
                Err(_) => Err(found("an integer")),
            },
            _ => Err(found("an integer")),
        },
        ParamType::Float => {
            let float = match json {
                Json::Number(number) => number.as_f64(),
                Json::String(text) => text.trim().parse::<f64>().ok(),
                _ => None,
            };
            match float {
                Some(float) if float.is_finite() => Ok(ParamValue::Float(float)),
                _ => Err(found("a number")),
            }
        }
        ParamType::Bool => match json {
            Json::Bool(flag) => Ok(ParamValue::Bool(*flag)),
            Json::String(text) if text.trim().eq_ignore_ascii_case("true") => {
                Ok(ParamValue::Bool(true))
            }
            Json::String(text) if text.trim().eq_ignore_ascii_case("false") => {
                Ok(ParamValue::Bool(false))
            }
            _ => Err(found("a boolean").with_hint(Some("use true or false".to_owned()))),
        },
    }
}

/// Checks one typed value against the declaration `spec`: the type must match exactly
/// (`Int` for `int`, `Float` for `float`, `String` for `string` and `enum`, `Bool` for
/// `bool`), then `min`/`max` (numbers: the value; strings: the length in characters),
/// `pattern` (must match the whole string), `format` and enum `values`.
///
/// Errors: the first failed check as a [`ParamError`], e.g.
/// ``70000 is above the maximum 65535`` or ``` `prod2` is not one of `dev`, `prod` ```.
pub fn check_value(spec: &ParamSpec, value: &ParamValue) -> Result<(), ParamError> {
    let name = spec.name.as_str();
    let shown_value = |value: &dyn fmt::Display| shown(spec, value);
    match (spec.kind, value) {
        (ParamType::Bool, ParamValue::Bool(_)) => Ok(()),
        (ParamType::Int, ParamValue::Int(int)) => {
            // Bounds are f64; integers a person types as bounds are exact below 2^53.
            let as_float = *int as f64;
            check_bounds(spec, as_float, &shown_value(int))
        }
        (ParamType::Float, ParamValue::Float(float)) => {
            if !float.is_finite() {
                return Err(ParamError::new(name, "value must be a finite number"));
            }
            check_bounds(spec, *float, &shown_value(float))
        }
        (ParamType::Enum, ParamValue::String(text)) => {
            if spec.values.iter().any(|allowed| allowed == text) {
                return Ok(());
            }
            let allowed = spec.values.iter().map(String::as_str);
            // A close match would hint at a secret value.
            let hint = closest(text, allowed.clone())
                .filter(|_| !spec.secret)
                .map(|near| format!("did you mean `{near}`?"));
            Err(ParamError::new(
                name,
                format!("{} is not one of {}", quoted(spec, text), list(allowed)),
            )
            .with_hint(hint))
        }
        (ParamType::String, ParamValue::String(text)) => check_string(spec, text),
        (kind, value) => Err(ParamError::new(
            name,
            format!(
                "expected {}, found {}",
                kind_phrase(kind),
                if spec.secret {
                    value.type_name().to_owned()
                } else {
                    describe_value(value)
                }
            ),
        )),
    }
}

fn check_bounds(spec: &ParamSpec, number: f64, shown: &str) -> Result<(), ParamError> {
    if let Some(min) = spec.min
        && number < min
    {
        return Err(ParamError::new(
            &spec.name,
            format!("{shown} is below the minimum {min}"),
        ));
    }
    if let Some(max) = spec.max
        && number > max
    {
        return Err(ParamError::new(
            &spec.name,
            format!("{shown} is above the maximum {max}"),
        ));
    }
    Ok(())
}

fn check_string(spec: &ParamSpec, text: &str) -> Result<(), ParamError> {
    let name = spec.name.as_str();
    let length = text.chars().count();
    // Bounds are f64; string lengths are far below 2^53, so the conversion is exact.
    let length_f = length as f64;
    if let Some(min) = spec.min
        && length_f < min
    {
        return Err(ParamError::new(
            name,
            format!(
                "{} is {}, shorter than the minimum length {min}",
                quoted(spec, text),
                characters(length)
            ),
        ));
    }
    if let Some(max) = spec.max
        && length_f > max
    {
        return Err(ParamError::new(
            name,
            format!(
                "{} is {}, longer than the maximum length {max}",
                quoted(spec, text),
                characters(length)
            ),
        ));
    }
    if let Some(pattern) = &spec.pattern {
        match full_match_regex(pattern) {
            Ok(regex) if regex.is_match(text) => {}
            Ok(_) => {
                return Err(ParamError::new(
                    name,
                    format!(
                        "{} does not match the pattern `{pattern}`",
                        quoted(spec, text)
                    ),
                ));
            }
            Err(problem) => {
                return Err(ParamError::new(
                    name,
                    format!("the declared pattern is invalid: {problem}"),
                ));
            }
        }
    }
    if let Some(format) = spec.format {
        check_format(spec, format, text)?;
    }
    Ok(())
}

fn check_format(spec: &ParamSpec, format: ParamFormat, text: &str) -> Result<(), ParamError> {
    let not = |what: &str| {
        Err(ParamError::new(
            &spec.name,
            format!("{} is not {what}", quoted(spec, text)),
        ))
    };
    match format {
        ParamFormat::Email if is_email(text) => Ok(()),
        ParamFormat::Email => not("an email address"),
        ParamFormat::Ip if text.parse::<IpAddr>().is_ok() => Ok(()),
        ParamFormat::Ip => not("an IP address"),
        ParamFormat::Port if is_port(text) => Ok(()),
        ParamFormat::Port => not("a port number 1-65535"),
        ParamFormat::Url if is_url(text) => Ok(()),
        ParamFormat::Url => not("an absolute URL like https://example.com/path"),
        ParamFormat::Cron => match CronExpr::parse(text) {
            Ok(_) => Ok(()),
            Err(error) => Err(ParamError::new(
                &spec.name,
                format!("{} is not a cron expression: {error}", quoted(spec, text)),
            )),
        },
    }
}

/// Compiles `pattern` so that it must match a whole string (`^(?:pattern)$`).
///
/// Errors: the regex crate's description of the problem as one line, e.g.
/// `unclosed group`.
pub fn full_match_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|error| match error {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or("syntax error")
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled regex exceeds the size limit of {limit} bytes")
        }
        other => other.to_string(),
    })
}

/// `local@domain` with a non-empty local part without spaces, and a domain of at least two
/// dot-separated labels of letters, digits and hyphens.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '@');
    local_ok && domain.contains('.') && is_hostname(domain)
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_port(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_digit()) && text.parse::<u16>().is_ok_and(|port| port != 0)
}

/// `scheme://host[:port][/path][?query][#fragment]` without whitespace: the WHATWG URL
/// syntax of the `url` crate, with a non-empty host written after `//` (so `mailto:x` and
/// `https://` are refused). The parser itself drops tabs and newlines, so whitespace and
/// control characters are refused before parsing.
fn is_url(text: &str) -> bool {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((_, rest)) = text.split_once("://") else {
        return false;
    };
    if rest.starts_with(['/', '?', '#']) {
        return false;
    }
    url::Url::parse(text).is_ok_and(|url| url.host_str().is_some_and(|host| !host.is_empty()))
}

/// `1 character`, `3 characters`.
fn characters(count: usize) -> String {
    if count == 1 {
        "1 character".to_owned()
    } else {
        format!("{count} characters")
    }
}

/// "an integer", "a number", ... for `expected ...` messages.
fn kind_phrase(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "a string",
        ParamType::Int => "an integer",
        ParamType::Float => "a number",
        ParamType::Bool => "a boolean",
        ParamType::Enum => "one of the declared values",
    }
}

/// A value in a message: itself, or `value` for secret params.
fn shown(spec: &ParamSpec, value: &dyn fmt::Display) -> String {
    if spec.secret {
        "value".to_owned()
    } else {
        value.to_string()
    }
}

/// A string value in a message: `` `text` `` (cut at 60 characters), or `value` for
/// secret params.
fn quoted(spec: &ParamSpec, text: &str) -> String {
    if spec.secret {
        return "value".to_owned();
    }
    const LIMIT: usize = 60;
    if text.chars().count() > LIMIT {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("`{cut}…`")
    } else {
        format!("`{text}`")
    }
}

fn describe_value(value: &ParamValue) -> String {
    match value {
        ParamValue::String(text) => format!("string `{text}`"),
        other => format!("{} {}", other.type_name(), other.to_env_string()),
    }
}

fn describe_json_type(json: &serde_json::Value) -> &'static str {
    use serde_json::Value as Json;
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn describe_json(json: &serde_json::Value) -> String {
    use serde_json::Value as Json;
    match json {
        Json::String(text) => format!("`{text}`"),
        Json::Null | Json::Bool(_) | Json::Number(_) => json.to_string(),
        Json::Array(_) | Json::Object(_) => describe_json_type(json).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: ParamType) -> ParamSpec {
        ParamSpec::new(name, kind)
    }

    /// Validates `given` (a JSON object) against `specs` and renders the result: `ok:` and
    /// one `name = value (type)` per param, or one error per line.
    #[track_caller]
    fn check(specs: &[ParamSpec], given: &str, expected: &str) {
        let given: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(given).expect("test input is a JSON object");
        let got = match validate_params(specs, &given) {
            Ok(values) => {
                let mut rendered = "ok:".to_owned();
                for (name, value) in values {
                    rendered.push_str(&format!(
                        " {name} = {} ({});",
                        value.to_env_string(),
                        value.type_name()
                    ));
                }
                rendered
            }
            Err(errors) => errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        assert_eq!(got, expected.trim(), "given {given:?}");
    }

    fn int_range(name: &str, min: f64, max: f64) -> ParamSpec {
        ParamSpec {
            min: Some(min),
            max: Some(max),
            ..spec(name, ParamType::Int)
        }
    }

    fn formatted(format: ParamFormat) -> ParamSpec {
        ParamSpec {
            format: Some(format),
            ..spec("v", ParamType::String)
        }
    }

    #[test]
    fn types_and_coercion() {
        let specs = [
            spec("s", ParamType::String),
            spec("i", ParamType::Int),
            spec("f", ParamType::Float),
            spec("b", ParamType::Bool),
        ];
        let cases = [
            (
                r#"{"s": "x", "i": 42, "f": 2.5, "b": true}"#,
                "ok: s = x (string); i = 42 (integer); f = 2.5 (float); b = true (boolean);",
            ),
            // The CLI's k=v gives strings; they are coerced to the declared type.
            (
                r#"{"s": "42", "i": "42", "f": " 2.5 ", "b": "FALSE"}"#,
                "ok: s = 42 (string); i = 42 (integer); f = 2.5 (float); b = false (boolean);",
            ),
            (
                r#"{"s": "", "i": "-7", "f": 3, "b": "true"}"#,
                "ok: s =  (string); i = -7 (integer); f = 3 (float); b = true (boolean);",
            ),
            (
                r#"{"s": 42, "i": "4.5", "f": "abc", "b": "yes"}"#,
                r#"
param `s`: expected a string, found 42
  hint: send it as a JSON string: "42"
param `i`: expected an integer, found `4.5`
param `f`: expected a number, found `abc`
param `b`: expected a boolean, found `yes`
  hint: use true or false"#,
            ),
            (
                r#"{"s": null, "i": 4.5, "f": "NaN", "b": 1}"#,
                r#"
param `s`: expected a string, found null
param `i`: expected an integer, found 4.5
param `f`: expected a number, found `NaN`
param `b`: expected a boolean, found 1
  hint: use true or false"#,
            ),
            (
                r#"{"s": ["a"], "i": 18446744073709551615, "f": "inf", "b": {}}"#,
                r#"
param `s`: expected a string, found an array
param `i`: 18446744073709551615 is out of range for a 64-bit integer
param `f`: expected a number, found `inf`
param `b`: expected a boolean, found an object
  hint: use true or false"#,
            ),
        ];
        for (given, expected) in cases {
            check(&specs, given, expected);
        }
    }

    #[test]
    fn names_defaults_and_order() {
        let specs = [
            ParamSpec {
                default: Some(ParamValue::String("eu".into())),
                ..spec("region", ParamType::String)
            },
            spec("port", ParamType::Int),
            ParamSpec {
                default: Some(ParamValue::Bool(false)),
                ..spec("dry_run", ParamType::Bool)
            },
        ];
        let cases = [
            // Declaration order, defaults filled in.
            (
                r#"{"port": 8080}"#,
                "ok: region = eu (string); port = 8080 (integer); dry_run = false (boolean);",
            ),
            (
                r#"{"dry_run": true, "port": 1, "region": "us"}"#,
                "ok: region = us (string); port = 1 (integer); dry_run = true (boolean);",
            ),
            ("{}", "param `port`: required but not given"),
            (
                r#"{"prot": 80, "zzz": 1}"#,
                r#"
param `port`: required but not given
param `prot`: unknown param
  hint: did you mean `port`?
param `zzz`: unknown param
  hint: declared params: `region`, `port`, `dry_run`"#,
            ),
        ];
        for (given, expected) in cases {
            check(&specs, given, expected);
        }
        check(&[], "{}", "ok:");
        check(
            &[],
            r#"{"x": 1}"#,
            "param `x`: unknown param\n  hint: this job declares no params",
        );
    }

    #[test]
    fn numeric_bounds() {
        let specs = [int_range("port", 1.0, 65535.0)];
        let cases = [
            (r#"{"port": 1}"#, "ok: port = 1 (integer);"),
            (r#"{"port": "65535"}"#, "ok: port = 65535 (integer);"),
            (
                r#"{"port": 70000}"#,
                "param `port`: 70000 is above the maximum 65535",
            ),
            (r#"{"port": 0}"#, "param `port`: 0 is below the minimum 1"),
        ];
        for (given, expected) in cases {
            check(&specs, given, expected);
        }
        let ratio = [ParamSpec {
            min: Some(0.0),
            max: Some(0.5),
            ..spec("ratio", ParamType::Float)
        }];
        check(&ratio, r#"{"ratio": 0.5}"#, "ok: ratio = 0.5 (float);");
        check(
            &ratio,
            r#"{"ratio": "0.75"}"#,
            "param `ratio`: 0.75 is above the maximum 0.5",
        );
    }

    #[test]
    fn strings_enums_and_patterns() {
        let specs = [
            ParamSpec {
                values: vec!["dev".into(), "staging".into(), "prod".into()],
                ..spec("env", ParamType::Enum)
            },
            ParamSpec {
                pattern: Some("[a-z]+".into()),
                min: Some(2.0),
                max: Some(5.0),
                ..spec("code", ParamType::String)
            },
        ];
        let cases = [
            (
                r#"{"env": "prod", "code": "abc"}"#,
                "ok: env = prod (string); code = abc (string);",
            ),
            // Lengths count characters, not bytes.
            (
                r#"{"env": "dev", "code": "ab"}"#,
                "ok: env = dev (string); code = ab (string);",
            ),
            (
                r#"{"env": "prd", "code": "abc1"}"#,
                r#"
param `env`: `prd` is not one of `dev`, `staging`, `prod`
  hint: did you mean `prod`?
param `code`: `abc1` does not match the pattern `[a-z]+`"#,
            ),
            (
                r#"{"env": "qa", "code": "a"}"#,
                r#"
param `env`: `qa` is not one of `dev`, `staging`, `prod`
param `code`: `a` is 1 character, shorter than the minimum length 2"#,
            ),
            (
                r#"{"env": 1, "code": "abcdef"}"#,
                r#"
param `env`: expected a string, found 1
  hint: send it as a JSON string: "1"
param `code`: `abcdef` is 6 characters, longer than the maximum length 5"#,
            ),
        ];
        for (given, expected) in cases {
            check(&specs, given, expected);
        }
        // The pattern must match the whole value, even with alternation.
        let alternation = [ParamSpec {
            pattern: Some("a|b".into()),
            ..spec("x", ParamType::String)
        }];
        check(&alternation, r#"{"x": "b"}"#, "ok: x = b (string);");
        check(
            &alternation,
            r#"{"x": "ab"}"#,
            "param `x`: `ab` does not match the pattern `a|b`",
        );
        // A broken declared pattern is an error, not a panic.
        let broken = [ParamSpec {
            pattern: Some("(".into()),
            ..spec("x", ParamType::String)
        }];
        check(
            &broken,
            r#"{"x": "a"}"#,
            "param `x`: the declared pattern is invalid: unclosed group",
        );
    }

    #[test]
    fn formats() {
        let cases = [
            (ParamFormat::Email, "ops@example.com", None),
            (
                ParamFormat::Email,
                "first.last+tag@mail.example.co.uk",
                None,
            ),
            (
                ParamFormat::Email,
                "ops@localhost",
                Some("is not an email address"),
            ),
            (
                ParamFormat::Email,
                "ops@@example.com",
                Some("is not an email address"),
            ),
            (
                ParamFormat::Email,
                "@example.com",
                Some("is not an email address"),
            ),
            (
                ParamFormat::Email,
                "a b@example.com",
                Some("is not an email address"),
            ),
            (
                ParamFormat::Email,
                "ops@-x.com",
                Some("is not an email address"),
            ),
            (ParamFormat::Ip, "10.0.0.1", None),
            (ParamFormat::Ip, "::1", None),
            (ParamFormat::Ip, "2001:db8::8a2e:370:7334", None),
            (ParamFormat::Ip, "256.0.0.1", Some("is not an IP address")),
            (ParamFormat::Ip, "example.com", Some("is not an IP address")),
            (ParamFormat::Port, "1", None),
            (ParamFormat::Port, "65535", None),
            (ParamFormat::Port, "0", Some("is not a port number 1-65535")),
            (
                ParamFormat::Port,
                "65536",
                Some("is not a port number 1-65535"),
            ),
            (
                ParamFormat::Port,
                "+80",
                Some("is not a port number 1-65535"),
            ),
            (
                ParamFormat::Port,
                "http",
                Some("is not a port number 1-65535"),
            ),
            (ParamFormat::Url, "https://example.com", None),
            (
                ParamFormat::Url,
                "https://user@example.com:8443/a/b?q=1#top",
                None,
            ),
            (ParamFormat::Url, "http://[::1]:8080/health", None),
            (ParamFormat::Url, "postgres://db.internal/app", None),
            (
                ParamFormat::Url,
                "example.com/path",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (
                ParamFormat::Url,
                "https://",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (
                ParamFormat::Url,
                "https://exa mple.com",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (
                ParamFormat::Url,
                "https://example.com:70000/",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (
                ParamFormat::Url,
                "http://[::1/health",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (ParamFormat::Url, "https://bücher.example/", None),
            (
                ParamFormat::Url,
                "https://example.com:99999",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (
                ParamFormat::Url,
                "1http://example.com",
                Some("is not an absolute URL like https://example.com/path"),
            ),
            (ParamFormat::Cron, "*/5 * * * *", None),
            (ParamFormat::Cron, "@daily", None),
            (
                ParamFormat::Cron,
                "0 0 32 * *",
                Some(
                    "is not a cron expression: cron field 3 (day of month): 32 is out of range 1-31",
                ),
            ),
        ];
        for (format, text, problem) in cases {
            let specs = [formatted(format)];
            let given = serde_json::json!({ "v": text }).to_string();
            let expected = match problem {
                None => format!("ok: v = {text} (string);"),
                Some(problem) => format!("param `v`: `{text}` {problem}"),
            };
            check(&specs, &given, &expected);
        }
    }

    #[test]
    fn secrets_are_not_repeated() {
        let specs = [
            ParamSpec {
                secret: true,
                pattern: Some("[a-z]+".into()),
                ..spec("token", ParamType::String)
            },
            ParamSpec {
                secret: true,
                max: Some(10.0),
                ..spec("pin", ParamType::Int)
            },
        ];
        check(
            &specs,
            r#"{"token": "Hunter2", "pin": 1234}"#,
            r#"
param `token`: value does not match the pattern `[a-z]+`
param `pin`: value is above the maximum 10"#,
        );
        check(
            &specs,
            r#"{"token": "ok", "pin": "12x4"}"#,
            "param `pin`: expected an integer, found a string",
        );
        check(
            &specs,
            r#"{"token": 12345, "pin": 1}"#,
            "param `token`: expected a string, found a number",
        );
        let secret_enum = [ParamSpec {
            secret: true,
            values: vec!["alpha-key".into(), "beta-key".into()],
            ..spec("key", ParamType::Enum)
        }];
        check(
            &secret_enum,
            r#"{"key": "alpha-kex"}"#,
            "param `key`: value is not one of `alpha-key`, `beta-key`",
        );
    }

    #[test]
    fn check_value_requires_the_declared_type() {
        let cases = [
            (
                ParamType::Int,
                ParamValue::Float(1.0),
                "expected an integer, found float 1",
            ),
            (
                ParamType::Bool,
                ParamValue::String("true".into()),
                "expected a boolean, found string `true`",
            ),
            (
                ParamType::Float,
                ParamValue::Float(f64::NAN),
                "value must be a finite number",
            ),
            (
                ParamType::Enum,
                ParamValue::Int(1),
                "expected one of the declared values, found integer 1",
            ),
        ];
        for (kind, value, message) in cases {
            let error = check_value(&spec("p", kind), &value).expect_err("type mismatch");
            assert_eq!(error.message, message, "{kind:?} {value:?}");
        }
        check_value(&spec("p", ParamType::Float), &ParamValue::Float(1.5))
            .expect("a float fits a float param");
    }

    #[test]
    fn names_and_env_vars() {
        for (name, valid) in [
            ("threshold", true),
            ("_x1", true),
            ("MAX_SIZE", true),
            ("", false),
            ("1x", false),
            ("my-param", false),
            ("my param", false),
            ("é", false),
        ] {
            assert_eq!(is_valid_param_name(name), valid, "{name:?}");
        }
        assert_eq!(env_var_name("since_days"), "JOBWORKS_PARAM_SINCE_DAYS");
        assert_eq!(ParamValue::Float(0.1).to_env_string(), "0.1");
        assert_eq!(ParamType::from_name("enum"), Some(ParamType::Enum));
        assert_eq!(ParamType::from_name("Enum"), None);
        assert_eq!(ParamFormat::from_name("ip"), Some(ParamFormat::Ip));
    }
}
