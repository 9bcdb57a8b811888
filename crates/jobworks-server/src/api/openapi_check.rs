//! Structural checks of the OpenAPI document that the derive macros do not enforce, so a new
//! route's annotations cannot make the document invalid: CI also runs
//! `openapi-spec-validator` and schemathesis against a live server (`.ci/api-check`), but
//! this test fails first and says where.

use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every finding as `METHOD PATH: what is wrong`; empty for a valid document.
///
/// Checks, per OpenAPI 3.1: `openapi` is `3.1.x`; every response has a non-empty
/// `description`; every `{name}` in a path has a `required: true` path parameter and every
/// path parameter appears in the path (so query parameters are never declared `in: path`);
/// `in` is one of `path`, `query`, `header`, `cookie`; no parameter is declared twice;
/// `operationId`s are unique; every local `$ref` resolves.
fn problems(document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let version = document["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.1.") {
        found.push(format!("openapi is `{version}`, not 3.1.x"));
    }
    let mut operation_ids = BTreeSet::new();
    let empty = serde_json::Map::new();
    let paths = document["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        let templated: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            if let Some(id) = operation["operationId"].as_str()
                && !operation_ids.insert(id.to_owned())
            {
                found.push(format!("{at}: operationId `{id}` is used twice"));
            }
            let mut declared = BTreeSet::new();
            let mut in_path = BTreeSet::new();
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for parameter in &parameters {
                let name = parameter["name"].as_str().unwrap_or_default();
                let location = parameter["in"].as_str().unwrap_or_default();
                if !matches!(location, "path" | "query" | "header" | "cookie") {
                    found.push(format!("{at}: parameter `{name}` is `in: {location}`"));
                }
                if !declared.insert((name.to_owned(), location.to_owned())) {
                    found.push(format!(
                        "{at}: parameter `{name}` ({location}) is declared twice"
                    ));
                }
                if location == "path" {
                    in_path.insert(name.to_owned());
                    if !templated.contains(name) {
                        found.push(format!(
                            "{at}: parameter `{name}` is `in: path` but the path has no `{{{name}}}`"
                        ));
                    }
                    if parameter["required"] != Value::Bool(true) {
                        found.push(format!("{at}: path parameter `{name}` is not required"));
                    }
                }
            }
            for name in &templated {
                if !in_path.contains(*name) {
                    found.push(format!("{at}: `{{{name}}}` has no path parameter"));
                }
            }
            match operation["responses"].as_object() {
                Some(responses) if !responses.is_empty() => {
                    for (code, response) in responses {
                        let described = response["description"]
                            .as_str()
                            .is_some_and(|d| !d.trim().is_empty());
                        if response.get("$ref").is_none() && !described {
                            found.push(format!("{at}: response {code} has no description"));
                        }
                    }
                }
                _ => found.push(format!("{at}: no responses")),
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(document, &mut refs);
    for reference in refs {
        let resolves = reference
            .strip_prefix('#')
            .is_some_and(|pointer| document.pointer(pointer).is_some());
        if !resolves {
            found.push(format!("$ref `{reference}` does not resolve"));
        }
    }
    found
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn the_served_document_is_valid() {
    let document: Value =
        serde_json::from_str(&super::openapi_json()).expect("the document is JSON");
    let found = problems(&document);
    assert!(
        found.is_empty(),
        "OpenAPI document problems:\n{}",
        found.join("\n")
    );
}

#[test]
fn query_parameters_are_declared_in_the_query() {
    let document: Value =
        serde_json::from_str(&super::openapi_json()).expect("the document is JSON");
    for (path, name) in [
        ("/api/v1/runs", "state"),
        ("/api/v1/runs", "limit"),
        ("/api/v1/runs/{id}/logs", "after"),
        ("/api/v1/runs/{id}/logs/follow", "after"),
    ] {
        let parameters = document["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let parameter = parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} declares `{name}`"));
        assert_eq!(parameter["in"], "query", "{path} {name}");
    }
}

#[test]
fn the_checks_find_what_validators_refuse() {
    let broken = serde_json::json!({
        "openapi": "3.1.0",
        "paths": {
            "/runs/{id}": {
                "get": {
                    "operationId": "same",
                    "parameters": [
                        {"name": "limit", "in": "path", "required": true},
                    ],
                    "responses": {"200": {}, "404": {"description": "missing"}}
                },
                "post": {
                    "operationId": "same",
                    "parameters": [{"name": "id", "in": "path", "required": true}],
                    "responses": {"200": {"$ref": "#/components/responses/Nope"}}
                }
            }
        }
    });
    assert_eq!(
        problems(&broken),
        [
            "GET /runs/{id}: parameter `limit` is `in: path` but the path has no `{limit}`",
            "GET /runs/{id}: `{id}` has no path parameter",
            "GET /runs/{id}: response 200 has no description",
            "POST /runs/{id}: operationId `same` is used twice",
            "$ref `#/components/responses/Nope` does not resolve",
        ]
    );
}

#[test]
fn optional_wire_fields_allow_null() {
    // found by schemathesis: `definition` is `null` in listings, the schema said `object`
    let document: Value =
        serde_json::from_str(&super::openapi_json()).expect("the document is JSON");
    let definition = &document["components"]["schemas"]["WorkflowView"]["properties"]["definition"];
    let allows_null = match &definition["type"] {
        Value::Array(types) => types.iter().any(|t| t == "null"),
        Value::String(t) => t == "null",
        _ => false,
    } || ["oneOf", "anyOf"].iter().any(|key| {
        definition[*key]
            .as_array()
            .is_some_and(|options| options.iter().any(|o| o["type"] == "null"))
    });
    assert!(allows_null, "WorkflowView.definition: {definition}");
}

#[test]
fn the_agent_protocol_stays_out_of_the_document() {
    // an internal protocol (`api::agent`): neither documented nor fuzzed by schemathesis
    let document: Value =
        serde_json::from_str(&super::openapi_json()).expect("the document is JSON");
    let paths = document["paths"].as_object().expect("paths");
    assert!(
        paths.keys().any(|p| p.starts_with("/api/v1/runs")),
        "the document lists the public routes"
    );
    let agent: Vec<&String> = paths
        .keys()
        .filter(|p| p.starts_with("/api/v1/agent/"))
        .collect();
    assert!(agent.is_empty(), "agent routes documented: {agent:?}");
    // the registry's management routes are public (admin tokens)
    assert!(
        paths.contains_key("/api/v1/agents"),
        "the registry is documented"
    );
}
