//! `run_on` as written: parsing from TOML, defaults, and every validation message.

use super::*;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct File {
    run_on: RunOn,
}

fn parse(text: &str) -> RunOn {
    match toml::from_str::<File>(&format!("run_on = {text}")) {
        Ok(file) => file.run_on,
        Err(err) => panic!("{text}: {err}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    match parse(text).validate() {
        Ok(policy) => panic!("{text}: expected problems, got {policy:?}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_full_example_validates() {
    let run_on = parse(
        r#"{ labels = { site = "bj", role = "db" }, strategy = "consistent_hash",
             hash_key = "params.customer",
             placement_timeout = "10m", agent_lost_after = "1m30s", on_agent_lost = "wait",
             offline_schedule = true }"#,
    );
    let policy = run_on.validate().expect("valid");
    assert_eq!(
        policy,
        RunOnPolicy {
            labels: BTreeMap::from([
                ("role".to_owned(), "db".to_owned()),
                ("site".to_owned(), "bj".to_owned()),
            ]),
            strategy: Strategy::ConsistentHash,
            hash_key: HashKey::Param("customer".to_owned()),
            shards: None,
            max_cpu_percent: None,
            min_free_memory_bytes: None,
            placement_timeout_ms: Some(600_000),
            agent_lost_after_ms: 90_000,
            on_agent_lost: OnAgentLost::Wait,
            offline_schedule: true,
        }
    );
}

#[test]
fn defaults_and_every_strategy_name() {
    let policy = parse("{}").validate().expect("valid");
    assert_eq!(policy, RunOnPolicy::default());
    assert_eq!(policy.strategy, Strategy::LeastLoaded);
    assert_eq!(policy.agent_lost_after_ms, 45_000);
    assert_eq!(policy.on_agent_lost, OnAgentLost::Retry);
    assert_eq!(policy.hash_key, HashKey::Job);
    assert!(!policy.offline_schedule);

    for strategy in Strategy::ALL {
        let run_on = parse(&format!("{{ strategy = \"{strategy}\" }}"));
        assert_eq!(run_on.validate().map(|p| p.strategy), Ok(strategy));
        assert_eq!(
            serde_json::to_value(strategy).ok(),
            Some(serde_json::Value::String(strategy.as_str().to_owned()))
        );
    }
    let with_thresholds = parse(
        r#"{ labels = { site = "bj" }, max_cpu_percent = 75.5, min_free_memory = "1GiB",
             shards = 1 }"#,
    );
    assert!(
        with_thresholds.validate().is_err(),
        "thresholds need least_loaded"
    );
    let least_loaded = parse(r#"{ max_cpu_percent = 80, min_free_memory = "512MiB" }"#)
        .validate()
        .expect("valid");
    assert_eq!(least_loaded.max_cpu_percent, Some(80.0));
    assert_eq!(least_loaded.min_free_memory_bytes, Some(512 << 20));
    let sharded = parse("{ shards = 4 }").validate().expect("valid");
    assert_eq!(sharded.shards, Some(4));
}

#[test]
fn validation_messages_name_the_field() {
    let cases: [(&str, &[&str]); 20] = [
        (
            r#"{ strategy = "round-robin" }"#,
            &[r#"run_on.strategy: unknown strategy "round-robin"; did you mean "round_robin"?"#],
        ),
        (
            r#"{ strategy = "roundrobin" }"#,
            &[r#"run_on.strategy: unknown strategy "roundrobin"; did you mean "round_robin"?"#],
        ),
        (
            r#"{ strategy = "fastest" }"#,
            &[
                r#"run_on.strategy: unknown strategy "fastest"; expected one of "first", "last", "round_robin", "random", "consistent_hash", "least_frequently_used", "least_recently_used", "failover", "busyover", "sharding_broadcast", "least_loaded""#,
            ],
        ),
        (
            r#"{ stratgy = "first" }"#,
            &[r#"run_on.stratgy: unknown field; did you mean "strategy"?"#],
        ),
        (
            r#"{ colour = "blue" }"#,
            &[
                r#"run_on.colour: unknown field; expected one of "labels", "strategy", "hash_key", "shards", "max_cpu_percent", "min_free_memory", "placement_timeout", "agent_lost_after", "on_agent_lost", "offline_schedule""#,
            ],
        ),
        (
            r#"{ labels = { "site name" = "bj", role = "" } }"#,
            &[
                r#"run_on.labels.role: label value is empty"#,
                r#"run_on.labels."site name": label name "site name" has ' ': use letters, digits, `_`, `-`, `.`, `/` or `:`"#,
            ],
        ),
        (
            r#"{ strategy = "round_robin", hash_key = "params.customer" }"#,
            &[
                r#"run_on.hash_key: only used by strategy "consistent_hash" (strategy is "round_robin")"#,
            ],
        ),
        (
            r#"{ strategy = "consistent_hash", hash_key = "customer" }"#,
            &[
                r#"run_on.hash_key: "customer": expected "job" (the job name) or "params.NAME" (a parameter's value)"#,
            ],
        ),
        (
            r#"{ strategy = "consistent_hash", hash_key = "params.9lives" }"#,
            &[
                r#"run_on.hash_key: "9lives" is not a parameter name (letters, digits and `_`, not starting with a digit)"#,
            ],
        ),
        (
            "{ shards = 0 }",
            &["run_on.shards: 0 shards: expected a whole number from 1 to 10000"],
        ),
        (
            r#"{ shards = 4, strategy = "round_robin" }"#,
            &[
                r#"run_on.strategy: strategy "round_robin" cannot be combined with shards: `shards` spreads its shards evenly over the group; leave out one of the two ("sharding_broadcast" runs one shard per agent)"#,
            ],
        ),
        (
            "{ max_cpu_percent = 150 }",
            &["run_on.max_cpu_percent: 150: expected a percentage above 0 and at most 100"],
        ),
        (
            r#"{ strategy = "round_robin", max_cpu_percent = 80 }"#,
            &[
                r#"run_on.max_cpu_percent: only used by strategy "least_loaded", not with strategy "round_robin""#,
            ],
        ),
        (
            r#"{ shards = 2, min_free_memory = "1GiB" }"#,
            &[r#"run_on.min_free_memory: only used by strategy "least_loaded", not with shards"#],
        ),
        (
            r#"{ min_free_memory = "1 gigabyte" }"#,
            &[
                r#"run_on.min_free_memory: "1 gigabyte": unknown size unit `gigabyte`; write e.g. "512MiB" or "1GiB""#,
            ],
        ),
        (
            r#"{ placement_timeout = "10" }"#,
            &[
                "run_on.placement_timeout: duration `10` has a number without a unit: add a unit, e.g. 30s",
            ],
        ),
        (
            r#"{ placement_timeout = "0s" }"#,
            &[
                "run_on.placement_timeout: must be longer than 0s; leave it out to wait without limit",
            ],
        ),
        (
            r#"{ agent_lost_after = "500ms" }"#,
            &[
                r#"run_on.agent_lost_after: "500ms" is too short: at least 1s (the default is 45s, three heartbeats)"#,
            ],
        ),
        (
            r#"{ on_agent_lost = "retyr" }"#,
            &[r#"run_on.on_agent_lost: unknown value "retyr"; did you mean "retry"?"#],
        ),
        (
            // Every problem at once, in field order after unknown keys.
            r#"{ strategy = "rand", on_agent_lost = "never", agent_lost_after = "soon", foo = 1 }"#,
            &[
                r#"run_on.foo: unknown field; expected one of "labels", "strategy", "hash_key", "shards", "max_cpu_percent", "min_free_memory", "placement_timeout", "agent_lost_after", "on_agent_lost", "offline_schedule""#,
                r#"run_on.strategy: unknown strategy "rand"; did you mean "random"?"#,
                "run_on.agent_lost_after: invalid duration `soon`: expected whole numbers with units, e.g. 1h30m",
                r#"run_on.on_agent_lost: unknown value "never"; expected one of "retry", "wait", "fail""#,
            ],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(problems(text), want.to_vec(), "{text}");
    }
}

#[test]
fn paths_start_where_the_caller_says() {
    let run_on = parse(r#"{ strategy = "frist" }"#);
    let problems = run_on
        .validate_at("workflow.task[2].run_on")
        .expect_err("invalid");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "workflow.task[2].run_on.strategy");
    assert_eq!(
        problems[0].message,
        r#"unknown strategy "frist"; did you mean "first"?"#
    );
}

#[test]
fn run_on_and_policy_round_trip() {
    let text = r#"{ labels = { site = "bj" }, strategy = "least_loaded", min_free_memory = "1GiB", extra = true }"#;
    let run_on = parse(text);
    assert_eq!(
        run_on.unknown.get("extra"),
        Some(&serde_json::Value::Bool(true))
    );
    let json = serde_json::to_string(&run_on).expect("serializes");
    let back: RunOn = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, run_on);

    let policy = RunOnPolicy {
        hash_key: HashKey::Param("customer".to_owned()),
        strategy: Strategy::ConsistentHash,
        ..RunOnPolicy::default()
    };
    let json = serde_json::to_string(&policy).expect("serializes");
    assert_eq!(
        serde_json::from_str::<RunOnPolicy>(&json).expect("parses"),
        policy
    );

    let memory = RoutingMemory {
        round_robin: Some(3),
        use_counts: BTreeMap::from([("a".to_owned(), 2)]),
        use_counts_since_ms: Some(1),
        last_used_ms: BTreeMap::from([("b".to_owned(), 5)]),
    };
    let json = serde_json::to_string(&memory).expect("serializes");
    assert_eq!(
        serde_json::from_str::<RoutingMemory>(&json).expect("parses"),
        memory
    );
    assert_eq!(
        serde_json::from_str::<RoutingMemory>("{}").expect("parses"),
        RoutingMemory::default()
    );
}
