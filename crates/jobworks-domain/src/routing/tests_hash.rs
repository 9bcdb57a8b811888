//! Consistent hashing (stability, balance, fixed values) and the agent-lost clocks.

use super::*;
use std::collections::BTreeMap;

const NOW: i64 = 1_800_000_000_000;

fn online(name: &str) -> AgentView {
    AgentView {
        name: name.to_owned(),
        labels: BTreeMap::new(),
        state: AgentState::Online,
        slots_total: 4,
        slots_used: 0,
        cpu_percent: None,
        free_memory_bytes: None,
        last_heartbeat_ms: NOW,
        heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
    }
}

fn hashed(agents: &[AgentView], key: &str) -> String {
    let run_on = RunOnPolicy {
        strategy: Strategy::ConsistentHash,
        ..RunOnPolicy::default()
    };
    match place(&run_on, agents, key, &RoutingMemory::default(), NOW, 0) {
        Placement::One { agent, .. } => agent,
        other => panic!("expected one agent, got {other:?}"),
    }
}

#[test]
fn stable_hash_is_the_first_four_bytes_of_sha256() {
    // SHA-256("abc") = ba7816bf 8f01cfea … (FIPS 180-2, appendix B.1).
    // SHA-256("") = e3b0c442 98fc1c14 …
    let cases = [("abc", 0xba78_16bf_u32), ("", 0xe3b0_c442)];
    for (text, want) in cases {
        assert_eq!(stable_hash(text), want, "{text:?}");
    }
}

#[test]
fn consistent_hash_sticks_to_one_agent_whatever_the_input_order() {
    let names = ["edge-a", "edge-b", "edge-c", "edge-d", "edge-e"];
    let forward: Vec<AgentView> = names.iter().map(|n| online(n)).collect();
    let backward: Vec<AgentView> = names.iter().rev().map(|n| online(n)).collect();
    for i in 0..200 {
        let key = format!("customer-{i}");
        let first = hashed(&forward, &key);
        assert_eq!(hashed(&forward, &key), first, "{key}");
        assert_eq!(hashed(&backward, &key), first, "{key}");
    }
    // Pinned values: a release that changes the hash or the node names moves keys, and must
    // say so. Computed with the SHA-256 ring of `HashRing`.
    let ring = HashRing::new(names);
    let pinned: Vec<(String, String)> = ["nightly-report", "acme", "globex", "initech"]
        .iter()
        .map(|key| {
            (
                (*key).to_owned(),
                ring.agent_for(key).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want = [
        ("nightly-report", PINNED[0]),
        ("acme", PINNED[1]),
        ("globex", PINNED[2]),
        ("initech", PINNED[3]),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(pinned, want);
    assert_eq!(HashRing::new([]).agent_for("x"), None);
}

/// The agents of the pinned keys above on the ring of `edge-a` … `edge-e`.
const PINNED: [&str; 4] = ["edge-c", "edge-b", "edge-c", "edge-b"];

/// Removing one of five agents moves only the keys that were on it (about a fifth), and
/// 10,000 keys spread within ±30 % of the mean. Figures printed with `--nocapture`.
#[test]
fn consistent_hash_stability_and_balance() {
    const KEYS: usize = 10_000;
    let names = ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"];
    let five: Vec<AgentView> = names.iter().map(|n| online(n)).collect();
    let four: Vec<AgentView> = five
        .iter()
        .filter(|a| a.name != "agent-3")
        .cloned()
        .collect();
    let ring5 = HashRing::new(names);
    let ring4 = HashRing::new(names.into_iter().filter(|n| *n != "agent-3"));

    let mut counts = BTreeMap::<String, usize>::new();
    let mut moved = 0;
    let mut on_removed = 0;
    for i in 0..KEYS {
        let key = format!("job-{i}");
        let before = ring5.agent_for(&key).unwrap_or_default();
        let after = ring4.agent_for(&key).unwrap_or_default();
        *counts.entry(before.to_owned()).or_default() += 1;
        if before == "agent-3" {
            on_removed += 1;
        }
        if before != after {
            moved += 1;
            assert_eq!(before, "agent-3", "{key} moved from an agent still present");
        }
        if i % 500 == 0 {
            assert_eq!(hashed(&five, &key), before, "place agrees with the ring");
            assert_eq!(hashed(&four, &key), after, "place agrees with the ring");
        }
    }
    assert_eq!(moved, on_removed, "every key of the removed agent moved");
    let moved_share = moved as f64 / KEYS as f64;
    assert!(moved_share <= 0.2 + 0.06, "moved {moved_share:.3} of keys");

    let mean = KEYS as f64 / names.len() as f64;
    let worst = counts
        .values()
        .map(|n| (*n as f64 - mean).abs() / mean)
        .fold(0.0, f64::max);
    eprintln!(
        "consistent_hash: {KEYS} keys over 5 agents {counts:?}; worst deviation from mean \
         {:.1}%; removing agent-3 moved {moved} keys ({:.1}%)",
        worst * 100.0,
        moved_share * 100.0
    );
    assert_eq!(counts.len(), 5);
    assert!(
        worst <= 0.30,
        "an agent is {:.1}% off the mean",
        worst * 100.0
    );
}

#[test]
fn agent_lost_after_its_delay_then_by_policy() {
    let policy = |on_agent_lost, after_ms| RunOnPolicy {
        on_agent_lost,
        agent_lost_after_ms: after_ms,
        ..RunOnPolicy::default()
    };
    // (policy, silence in ms, decision)
    let cases = [
        (
            policy(OnAgentLost::Retry, 45_000),
            44_999,
            AgentLost::NotYet {
                lost_at_ms: NOW + 1,
            },
        ),
        (policy(OnAgentLost::Retry, 45_000), 45_000, AgentLost::Retry),
        (policy(OnAgentLost::Wait, 45_000), 60_000, AgentLost::Wait),
        (policy(OnAgentLost::Fail, 1_000), 1_000, AgentLost::Fail),
        (
            policy(OnAgentLost::Fail, 1_000),
            -10_000, // heartbeat stamped after now
            AgentLost::NotYet {
                lost_at_ms: NOW + 11_000,
            },
        ),
        (
            policy(OnAgentLost::Retry, u64::MAX),
            86_400_000,
            AgentLost::NotYet {
                lost_at_ms: i64::MAX,
            },
        ),
    ];
    for (run_on, silence, want) in cases {
        let got = agent_lost(&run_on, NOW - silence, NOW);
        assert_eq!(
            got, want,
            "silence {silence} ms, {:?}",
            run_on.on_agent_lost
        );
    }
}

#[test]
fn placement_timeout_fails_a_waiting_task() {
    let with = |timeout_ms| RunOnPolicy {
        placement_timeout_ms: timeout_ms,
        ..RunOnPolicy::default()
    };
    // (placement_timeout_ms, waited ms, timed out)
    let cases = [
        (None, i64::MAX, false),
        (Some(600_000), 599_999, false),
        (Some(600_000), 600_000, true),
        (Some(1), 0, false),
        (Some(u64::MAX), 86_400_000, false),
    ];
    for (timeout, waited, want) in cases {
        let since = NOW.saturating_sub(waited);
        assert_eq!(
            placement_timed_out(&with(timeout), since, NOW),
            want,
            "{timeout:?} after {waited} ms"
        );
    }
}

#[test]
fn routing_key_is_the_job_name_or_a_param_value() {
    use crate::params::ParamValue;
    let by = |hash_key| RunOnPolicy {
        strategy: Strategy::ConsistentHash,
        hash_key,
        ..RunOnPolicy::default()
    };
    let params = BTreeMap::from([
        ("customer".to_owned(), ParamValue::String("acme".to_owned())),
        ("shard".to_owned(), ParamValue::Int(7)),
    ]);
    let customer = HashKey::Param("customer".to_owned());
    // (hash_key, key)
    let cases = [
        (HashKey::Job, "nightly"),
        (customer.clone(), "acme"),
        (HashKey::Param("shard".to_owned()), "7"),
        (HashKey::Param("region".to_owned()), "nightly"), // no value: the job name
    ];
    for (hash_key, want) in cases {
        assert_eq!(by(hash_key.clone()).routing_key("nightly", &params), want);
    }
    // Two jobs hashing on the same customer land on the same agent.
    let agents: Vec<AgentView> = ["a", "b", "c", "d"].iter().map(|n| online(n)).collect();
    let key_of = |job: &str| by(customer.clone()).routing_key(job, &params);
    assert_eq!(
        hashed(&agents, &key_of("billing")),
        hashed(&agents, &key_of("export"))
    );
}
