//! Parameter declarations: the `[job.params.<name>]` tables.

use super::diagnostic::{item_path, key_path};
use super::raw::{Entry, NodeKind};
use super::suggest::list;
use super::validate::Validator;
use crate::params::{
    ParamFormat, ParamSpec, ParamType, ParamValue, check_value, env_var_name, full_match_regex,
    is_valid_param_name,
};
use std::collections::HashMap;

const PARAM_FIELDS: &[&str] = &[
    "type",
    "description",
    "default",
    "values",
    "pattern",
    "format",
    "min",
    "max",
    "secret",
];

impl Validator<'_> {
    pub(crate) fn params(&mut self, entry: &Entry, job_path: &str) -> Vec<ParamSpec> {
        let path = key_path(job_path, "params");
        let Some(entries) = self.table(&entry.value, &path) else {
            return Vec::new();
        };
        let mut params: Vec<ParamSpec> = Vec::new();
        let mut env_names: HashMap<String, String> = HashMap::new();
        for param in entries {
            let Some(spec) = self.param(param, &path) else {
                continue;
            };
            let env_name = env_var_name(&spec.name);
            if let Some(other) = env_names.get(&env_name) {
                self.error(
                    &param.key_span,
                    &key_path(&path, &param.key),
                    format!(
                        "params `{other}` and `{}` both reach processes as {env_name}",
                        spec.name
                    ),
                    Some("param names must differ in more than letter case".to_owned()),
                );
                continue;
            }
            env_names.insert(env_name, spec.name.clone());
            params.push(spec);
        }
        params
    }

    pub(crate) fn param(&mut self, entry: &Entry, params_path: &str) -> Option<ParamSpec> {
        let path = key_path(params_path, &entry.key);
        let errors_before = self.diagnostics.len();
        if !is_valid_param_name(&entry.key) {
            self.error(
                &entry.key_span,
                &path,
                format!("invalid param name `{}`", entry.key),
                Some("use letters, digits and `_`, not starting with a digit".to_owned()),
            );
        }
        let NodeKind::Table(entries) = &entry.value.kind else {
            self.error(
                &entry.value.span,
                &path,
                format!("expected a table, found {}", entry.value.describe()),
                Some(format!(
                    "declare a param as a table: [{}.{}] with type = \"string\"",
                    self.headers.params, entry.key
                )),
            );
            return None;
        };
        let fields = self.known_fields(entries, &path, PARAM_FIELDS, |unknown| match unknown {
            "required" => Some(
                "params without a default are required; give a default to make one optional"
                    .to_owned(),
            ),
            _ => None,
        });
        let mut spec = ParamSpec::new(entry.key.clone(), ParamType::String);

        let kind = match fields.get("type") {
            Some(entry) => {
                let names: Vec<&str> = ParamType::ALL.iter().map(|kind| kind.as_str()).collect();
                let pairs: Vec<(&str, ParamType)> =
                    names.iter().copied().zip(ParamType::ALL).collect();
                self.choice(entry, &path, "param type", &pairs)
            }
            None => {
                self.error(
                    &entry.value.span,
                    &path,
                    "missing field `type`",
                    Some(format!(
                        "param types: {}",
                        list(ParamType::ALL.iter().map(|kind| kind.as_str()))
                    )),
                );
                None
            }
        };
        if let Some(kind) = kind {
            spec.kind = kind;
        }
        if let Some(entry) = fields.get("description")
            && let Some(text) = self.string(entry, &path)
        {
            spec.description = text.to_owned();
        }
        if let Some(entry) = fields.get("secret")
            && let Some(secret) = self.boolean(entry, &path)
        {
            spec.secret = secret;
        }

        let applies = |kinds: &[ParamType]| kind.is_none_or(|kind| kinds.contains(&kind));
        let kind_name = kind.map_or("", |kind| kind.as_str());
        // `values`
        if let Some(entry) = fields.get("values") {
            if applies(&[ParamType::Enum]) {
                spec.values = self.enum_values(entry, &path);
            } else {
                self.error(
                    &entry.key_span,
                    &key_path(&path, "values"),
                    format!("`values` applies only to enum params, not {kind_name}"),
                    Some("set type = \"enum\" to allow only listed values".to_owned()),
                );
            }
        } else if kind == Some(ParamType::Enum) {
            self.error(
                &entry.value.span,
                &path,
                "enum param needs `values`",
                Some("add values = [\"a\", \"b\"]".to_owned()),
            );
        }
        // `pattern` and `format`
        for field in ["pattern", "format"] {
            let Some(field_entry) = fields.get(field) else {
                continue;
            };
            if !applies(&[ParamType::String]) {
                let hint = if field == "format"
                    && matches!(&field_entry.value.kind, NodeKind::String(text) if text == "port")
                {
                    "for a port number use type = \"int\" with min = 1 and max = 65535"
                } else {
                    "set type = \"string\""
                };
                self.error(
                    &field_entry.key_span,
                    &key_path(&path, field),
                    format!("`{field}` applies only to string params, not {kind_name}"),
                    Some(hint.to_owned()),
                );
                continue;
            }
            if field == "pattern" {
                if let Some(pattern) = self.string(field_entry, &path) {
                    match full_match_regex(pattern) {
                        Ok(_) => spec.pattern = Some(pattern.to_owned()),
                        Err(problem) => self.error(
                            &field_entry.value.span,
                            &key_path(&path, "pattern"),
                            format!("invalid regex: {problem}"),
                            None,
                        ),
                    }
                }
            } else {
                let names: Vec<&str> = ParamFormat::ALL.iter().map(|f| f.as_str()).collect();
                let pairs: Vec<(&str, ParamFormat)> =
                    names.iter().copied().zip(ParamFormat::ALL).collect();
                spec.format = self.choice(field_entry, &path, "format", &pairs);
            }
        }
        // `min` and `max`
        for field in ["min", "max"] {
            let Some(bound_entry) = fields.get(field) else {
                continue;
            };
            let bound_path = key_path(&path, field);
            if !applies(&[ParamType::Int, ParamType::Float, ParamType::String]) {
                self.error(
                    &bound_entry.key_span,
                    &bound_path,
                    format!("`{field}` does not apply to {kind_name} params"),
                    None,
                );
                continue;
            }
            let Some(bound) = self.number(bound_entry, &path) else {
                continue;
            };
            let whole = bound.fract() == 0.0;
            match kind {
                Some(ParamType::Int) if !whole => self.error(
                    &bound_entry.value.span,
                    &bound_path,
                    format!(
                        "expected an integer for an int param, found {}",
                        bound_entry.value.describe()
                    ),
                    None,
                ),
                Some(ParamType::String) if !whole || bound < 0.0 => self.error(
                    &bound_entry.value.span,
                    &bound_path,
                    format!(
                        "expected a length (a whole number, 0 or more), found {}",
                        bound_entry.value.describe()
                    ),
                    Some(
                        "for string params, min and max bound the length in characters".to_owned(),
                    ),
                ),
                _ if !bound.is_finite() => self.error(
                    &bound_entry.value.span,
                    &bound_path,
                    format!(
                        "expected a finite number, found {}",
                        bound_entry.value.describe()
                    ),
                    None,
                ),
                _ if field == "min" => spec.min = Some(bound),
                _ => spec.max = Some(bound),
            }
        }
        if let (Some(min), Some(max)) = (spec.min, spec.max)
            && min > max
            && let Some(max_entry) = fields.get("max")
        {
            self.error(
                &max_entry.value.span,
                &key_path(&path, "max"),
                format!("min {min} is greater than max {max}"),
                None,
            );
        }
        // `default`, checked against everything above once that is valid
        if let Some(default_entry) = fields.get("default") {
            let default_path = key_path(&path, "default");
            let valid_so_far = self.diagnostics.len() == errors_before;
            if let Some(kind) = kind
                && let Some(value) = self.param_value(default_entry, &default_path, kind)
                && valid_so_far
            {
                match check_value(&spec, &value) {
                    Ok(()) => spec.default = Some(value),
                    Err(problem) => self.error(
                        &default_entry.value.span,
                        &default_path,
                        format!("default {}", problem.message),
                        problem.hint,
                    ),
                }
            }
        }
        (self.diagnostics.len() == errors_before).then_some(spec)
    }

    pub(crate) fn enum_values(&mut self, entry: &Entry, param_path: &str) -> Vec<String> {
        let path = key_path(param_path, "values");
        let Some(items) = self.array(&entry.value, &path) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.error(
                &entry.value.span,
                &path,
                "enum param needs at least one value",
                None,
            );
        }
        let mut values: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_path = item_path(&path, index);
            let Some(value) = self.string_node(item, &item_path) else {
                continue;
            };
            if values.iter().any(|seen| seen == value) {
                self.error(
                    &item.span,
                    &item_path,
                    format!("duplicate value `{value}`"),
                    None,
                );
            } else {
                values.push(value.to_owned());
            }
        }
        values
    }

    /// A default value of the declared `kind`; `int` defaults must be TOML integers, `float`
    /// defaults take integers too.
    pub(crate) fn param_value(
        &mut self,
        entry: &Entry,
        path: &str,
        kind: ParamType,
    ) -> Option<ParamValue> {
        let value = match (kind, &entry.value.kind) {
            (ParamType::String | ParamType::Enum, NodeKind::String(text)) => {
                ParamValue::String(text.clone())
            }
            (ParamType::Int, NodeKind::Integer(int)) => ParamValue::Int(*int),
            // Defaults are typed by a person; they are exact below 2^53.
            (ParamType::Float, NodeKind::Integer(int)) => ParamValue::Float(*int as f64),
            (ParamType::Float, NodeKind::Float(float)) => ParamValue::Float(*float),
            (ParamType::Bool, NodeKind::Bool(flag)) => ParamValue::Bool(*flag),
            (_, NodeKind::Invalid) => return None,
            (kind, found) => {
                let expected = match kind {
                    ParamType::String | ParamType::Enum => "a string",
                    ParamType::Int => "an integer",
                    ParamType::Float => "a number",
                    ParamType::Bool => "a boolean",
                };
                let hint = match (kind, found) {
                    (ParamType::Int, NodeKind::String(text))
                        if text.trim().parse::<i64>().is_ok() =>
                    {
                        Some(format!("remove the quotes: {}", text.trim()))
                    }
                    (ParamType::Float, NodeKind::String(text))
                        if text.trim().parse::<f64>().is_ok() =>
                    {
                        Some(format!("remove the quotes: {}", text.trim()))
                    }
                    (ParamType::Bool, NodeKind::String(text))
                        if matches!(text.as_str(), "true" | "false") =>
                    {
                        Some(format!("remove the quotes: {text}"))
                    }
                    (
                        ParamType::String | ParamType::Enum,
                        NodeKind::Integer(_) | NodeKind::Float(_) | NodeKind::Bool(_),
                    ) => entry
                        .value
                        .scalar_text()
                        .map(|text| format!("quote it: \"{text}\"")),
                    _ => None,
                };
                self.error(
                    &entry.value.span,
                    path,
                    format!("expected {expected}, found {}", entry.value.describe()),
                    hint,
                );
                return None;
            }
        };
        Some(value)
    }
}
