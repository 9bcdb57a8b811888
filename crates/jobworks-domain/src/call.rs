//! Calls: the params a workflow task passes to the job or workflow it calls, checked
//! against what the callee declares (the same rules as a manual trigger,
//! [`crate::params::validate_params`]).

use crate::ParamSpec;
use crate::params::validate_params;
use std::collections::BTreeMap;

/// The params of a call as the child run stores them: every declared param, defaults
/// filled in, as one JSON object.
///
/// Errors: every problem found (`a: required but not given; b: unknown param ...`), joined
/// with `; `, for the calling task's reason.
pub fn call_params(
    declared: &[ParamSpec],
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let values = validate_params(declared, given).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        text.join("; ")
    })?;
    let mut object = serde_json::Map::new();
    for (param, value) in values {
        object.insert(param, serde_json::to_value(value).unwrap_or_default());
    }
    Ok(serde_json::Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParamType, ParamValue};
    use serde_json::json;

    fn given(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn calls_fill_defaults_and_refuse_bad_params() {
        let mut count = ParamSpec::new("count", ParamType::Int);
        count.default = Some(ParamValue::Int(3));
        let name = ParamSpec::new("name", ParamType::String);
        let declared = [count, name];

        let ok = call_params(&declared, &given(&[("name", json!("x"))]));
        assert_eq!(ok, Ok(json!({"count": 3, "name": "x"})));

        let coerced = call_params(
            &declared,
            &given(&[("name", json!("x")), ("count", json!("7"))]),
        );
        assert_eq!(coerced, Ok(json!({"count": 7, "name": "x"})));

        let missing = call_params(&declared, &given(&[])).unwrap_err();
        assert!(missing.contains("name"), "{missing}");

        let unknown = call_params(
            &declared,
            &given(&[("name", json!("x")), ("nmae", json!(1))]),
        )
        .unwrap_err();
        assert!(unknown.contains("nmae"), "{unknown}");

        let both = call_params(&declared, &given(&[("count", json!("many"))])).unwrap_err();
        assert!(both.contains("; "), "two problems joined: {both}");
    }
}
