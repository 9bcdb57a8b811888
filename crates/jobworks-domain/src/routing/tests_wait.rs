//! Shards, and the reasons a task waits.

use super::tests::{NOW, agent, fleet, labels, policy, wait_reason};
use super::*;

#[test]
fn shards_spread_evenly_over_the_group() {
    let fleet = fleet();
    // Order: bj-1 (3 free), bj-3 (2 free), bj-2 (0 free).
    let cases: [(u32, &[&str]); 4] = [
        (1, &["bj-1"]),
        (3, &["bj-1", "bj-3", "bj-2"]),
        (5, &["bj-1", "bj-3", "bj-2", "bj-1", "bj-3"]),
        (7, &["bj-1", "bj-3", "bj-2", "bj-1", "bj-3", "bj-2", "bj-1"]),
    ];
    for (shards, want) in cases {
        let p = RunOnPolicy {
            shards: Some(shards),
            ..policy(Strategy::default())
        };
        let placed = place(&p, &fleet, "job", &RoutingMemory::default(), NOW, 0);
        let want: Vec<String> = want.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(
            placed,
            Placement::Shards { agents: want },
            "{shards} shards"
        );
    }
    // 1,000 shards over 3 agents: 334, 333, 333.
    let p = RunOnPolicy {
        shards: Some(1_000),
        ..policy(Strategy::default())
    };
    let Placement::Shards { agents } = place(&p, &fleet, "job", &RoutingMemory::default(), NOW, 0)
    else {
        panic!("expected shards");
    };
    let count = |name: &str| agents.iter().filter(|a| *a == name).count();
    assert_eq!(
        (count("bj-1"), count("bj-3"), count("bj-2")),
        (334, 333, 333)
    );
}

#[test]
fn no_match_waits_with_the_reason() {
    let fleet = fleet();
    let db = vec![
        AgentView {
            labels: labels(&[("role", "db")]),
            state: AgentState::Draining,
            ..agent("db-2")
        },
        AgentView {
            labels: labels(&[("role", "db")]),
            state: AgentState::Suspect,
            ..agent("db-1")
        },
    ];
    let gz = RunOnPolicy {
        labels: labels(&[("site", "gz")]),
        ..RunOnPolicy::default()
    };
    let db_policy = RunOnPolicy {
        labels: labels(&[("role", "db")]),
        strategy: Strategy::ShardingBroadcast,
        ..RunOnPolicy::default()
    };
    let two = RunOnPolicy {
        labels: labels(&[("site", "bj"), ("role", "db")]),
        shards: Some(4),
        ..RunOnPolicy::default()
    };
    let cases: [(&RunOnPolicy, &[AgentView], &str); 4] = [
        (&gz, &fleet, "no online agent matches site=gz"),
        (
            &db_policy,
            &db,
            "no online agent matches role=db (db-1 is suspect, db-2 is draining)",
        ),
        (&two, &fleet, "no online agent matches role=db,site=bj"),
        (&RunOnPolicy::default(), &[], "no agent is online"),
    ];
    for (p, agents, want) in cases {
        for strategy in Strategy::ALL {
            let p = RunOnPolicy {
                strategy,
                ..p.clone()
            };
            let placed = place(&p, agents, "job", &RoutingMemory::default(), NOW, 0);
            assert_eq!(wait_reason(&placed), want, "{strategy}");
        }
    }
    let full: Vec<AgentView> = fleet
        .iter()
        .map(|agent| AgentView {
            slots_used: agent.slots_total,
            ..agent.clone()
        })
        .collect();
    let placed = place(
        &policy(Strategy::LeastLoaded),
        &full,
        "job",
        &RoutingMemory::default(),
        NOW,
        0,
    );
    assert_eq!(wait_reason(&placed), "all 3 matching agents are busy");
    let only = [AgentView {
        slots_used: 4,
        ..agent("bj-1")
    }];
    let placed = place(
        &policy(Strategy::Busyover),
        &only,
        "job",
        &RoutingMemory::default(),
        NOW,
        0,
    );
    assert_eq!(wait_reason(&placed), "the only matching agent is busy");
}
