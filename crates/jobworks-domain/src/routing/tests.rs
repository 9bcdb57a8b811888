//! Placement tables: every strategy on one fixed fleet, memory updates, waits, hashing.

use super::*;
use std::collections::BTreeMap;

pub(super) const NOW: i64 = 1_800_000_000_000;
pub(super) const GIB: u64 = 1 << 30;

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An online `site=bj` agent with 4 free slots, 10 % CPU, 8 GiB free, heard from at `NOW`.
pub(super) fn agent(name: &str) -> AgentView {
    AgentView {
        name: name.to_owned(),
        labels: labels(&[("site", "bj")]),
        state: AgentState::Online,
        slots_total: 4,
        slots_used: 0,
        cpu_percent: Some(10.0),
        free_memory_bytes: Some(8 * GIB),
        last_heartbeat_ms: NOW,
        heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
    }
}

/// The fixed fleet, deliberately out of name order. Group for `site=bj`: bj-1, bj-2, bj-3.
/// - bj-1: 3 free slots, CPU 30 %, last heartbeat 40 s ago (missed beats, still online);
/// - bj-2: full (4 of 4), CPU 50 %;
/// - bj-3: 2 free slots of 2, CPU 20 %, 512 MiB free;
/// - bj-4 suspect, bj-5 draining, bj-0 revoked, bj-6 offline, sh-1 in another site.
pub(super) fn fleet() -> Vec<AgentView> {
    vec![
        AgentView {
            state: AgentState::Draining,
            ..agent("bj-5")
        },
        AgentView {
            slots_total: 2,
            cpu_percent: Some(20.0),
            free_memory_bytes: Some(512 << 20),
            ..agent("bj-3")
        },
        AgentView {
            labels: labels(&[("site", "sh")]),
            ..agent("sh-1")
        },
        AgentView {
            slots_used: 1,
            cpu_percent: Some(30.0),
            last_heartbeat_ms: NOW - 40_000,
            ..agent("bj-1")
        },
        AgentView {
            state: AgentState::Suspect,
            ..agent("bj-4")
        },
        AgentView {
            slots_used: 4,
            cpu_percent: Some(50.0),
            ..agent("bj-2")
        },
        AgentView {
            state: AgentState::Revoked,
            ..agent("bj-0")
        },
        AgentView {
            state: AgentState::Offline,
            ..agent("bj-6")
        },
    ]
}

pub(super) fn policy(strategy: Strategy) -> RunOnPolicy {
    RunOnPolicy {
        labels: labels(&[("site", "bj")]),
        strategy,
        ..RunOnPolicy::default()
    }
}

pub(super) fn one(placement: &Placement) -> &str {
    match placement {
        Placement::One { agent, .. } => agent,
        other => panic!("expected one agent, got {other:?}"),
    }
}

pub(super) fn memory_of(placement: Placement) -> RoutingMemory {
    match placement {
        Placement::One { memory, .. } => memory,
        other => panic!("expected one agent, got {other:?}"),
    }
}

pub(super) fn wait_reason(placement: &Placement) -> String {
    match placement {
        Placement::Wait { reason } => reason.to_string(),
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[test]
fn matches_and_eligible() {
    let bj = agent("x");
    let cases = [
        (labels(&[]), true),
        (labels(&[("site", "bj")]), true),
        (labels(&[("site", "BJ")]), false),
        (labels(&[("site", "bj"), ("role", "db")]), false),
        (labels(&[("role", "bj")]), false),
    ];
    for (wanted, want) in cases {
        assert_eq!(matches(&wanted, &bj), want, "{wanted:?}");
    }

    let fleet = fleet();
    let names = |p: &RunOnPolicy| -> Vec<String> {
        eligible(&fleet, p)
            .iter()
            .map(|agent| agent.name.clone())
            .collect()
    };
    assert_eq!(names(&policy(Strategy::First)), ["bj-1", "bj-2", "bj-3"]);
    assert_eq!(
        names(&RunOnPolicy::default()),
        ["bj-1", "bj-2", "bj-3", "sh-1"]
    );

    let mut twice = fleet.clone();
    twice.push(AgentView {
        slots_used: 4,
        ..agent("bj-3")
    });
    let group = eligible(&twice, &policy(Strategy::First));
    assert_eq!(group.len(), 3, "a repeated name is kept once");
    assert_eq!(
        group[2].slots_total, 2,
        "the first entry of a repeated name wins"
    );
}

#[test]
fn every_strategy_on_the_fixed_fleet() {
    let fleet = fleet();
    let memory = RoutingMemory {
        round_robin: Some(7),
        use_counts: BTreeMap::from([
            ("bj-1".to_owned(), 5),
            ("bj-2".to_owned(), 2),
            ("bj-3".to_owned(), 2),
        ]),
        use_counts_since_ms: Some(NOW - 1_000),
        last_used_ms: BTreeMap::from([
            ("bj-1".to_owned(), NOW - 100),
            ("bj-2".to_owned(), NOW - 300),
            ("bj-3".to_owned(), NOW - 200),
        ]),
    };
    // (strategy, seed, chosen agent)
    let cases = [
        (Strategy::First, 0, "bj-1"),
        (Strategy::Last, 0, "bj-3"),
        (Strategy::RoundRobin, 0, "bj-2"), // counter 7 % 3 = 1
        (Strategy::Random, 5, "bj-3"),     // 5 % 3 = 2
        (Strategy::Random, 6, "bj-1"),
        (Strategy::LeastFrequentlyUsed, 0, "bj-2"), // 2 = 2 < 5: name order
        (Strategy::LeastRecentlyUsed, 0, "bj-2"),   // used 300 ms ago
        (Strategy::Failover, 0, "bj-2"),            // bj-1 silent for 40 s > 22.5 s
        (Strategy::Busyover, 0, "bj-1"),            // bj-1 has free slots
        (Strategy::LeastLoaded, 0, "bj-1"),         // 3 free slots beat 2
    ];
    for (strategy, seed, want) in cases {
        let placed = place(&policy(strategy), &fleet, "job", &memory, NOW, seed);
        assert_eq!(one(&placed), want, "{strategy} seed {seed}");
    }
    let placed = place(
        &policy(Strategy::ShardingBroadcast),
        &fleet,
        "job",
        &memory,
        NOW,
        0,
    );
    assert_eq!(
        placed,
        Placement::Broadcast {
            agents: vec!["bj-1".into(), "bj-2".into(), "bj-3".into()]
        }
    );
}

#[test]
fn strategies_without_memory_return_it_unchanged() {
    let fleet = fleet();
    let memory = RoutingMemory {
        round_robin: Some(3),
        ..RoutingMemory::default()
    };
    for strategy in [
        Strategy::First,
        Strategy::Last,
        Strategy::Random,
        Strategy::ConsistentHash,
        Strategy::Failover,
        Strategy::Busyover,
        Strategy::LeastLoaded,
    ] {
        let placed = place(&policy(strategy), &fleet, "job", &memory, NOW, 1);
        assert_eq!(memory_of(placed), memory, "{strategy}");
    }
}

#[test]
fn round_robin_cycles_through_the_group() {
    let fleet = fleet();
    let p = policy(Strategy::RoundRobin);
    let mut memory = RoutingMemory::default();
    let mut chosen = Vec::new();
    for _ in 0..7 {
        // The seed only matters for the first placement: 42 % 100 = 42, 42 % 3 = 0.
        let placed = place(&p, &fleet, "job", &memory, NOW, 42);
        chosen.push(one(&placed).to_owned());
        memory = memory_of(placed);
    }
    assert_eq!(
        chosen,
        ["bj-1", "bj-2", "bj-3", "bj-1", "bj-2", "bj-3", "bj-1"]
    );
    assert_eq!(memory.round_robin, Some(49));

    // The first counter is below 100 whatever the seed, so jobs start spread out.
    for seed in [0, 99, 100, 12_345, u64::MAX] {
        let first = memory_of(place(
            &p,
            &fleet,
            "job",
            &RoutingMemory::default(),
            NOW,
            seed,
        ));
        assert_eq!(first.round_robin, Some(seed % 100 + 1), "seed {seed}");
    }
    let wrapped = RoutingMemory {
        round_robin: Some(u64::MAX),
        ..RoutingMemory::default()
    };
    let placed = place(&p, &fleet, "job", &wrapped, NOW, 0);
    assert_eq!(memory_of(placed).round_robin, Some(0));
}

#[test]
fn least_frequently_used_updates_its_counts() {
    let fleet = fleet();
    let p = policy(Strategy::LeastFrequentlyUsed);

    // Known counts: the minimum is taken and incremented; a gone agent is dropped; an agent
    // new to the job joins at the current minimum.
    let memory = RoutingMemory {
        use_counts: BTreeMap::from([
            ("bj-2".to_owned(), 12),
            ("bj-3".to_owned(), 10),
            ("gone".to_owned(), 0),
        ]),
        use_counts_since_ms: Some(NOW - 60_000),
        ..RoutingMemory::default()
    };
    let placed = place(&p, &fleet, "job", &memory, NOW, 0);
    assert_eq!(
        one(&placed),
        "bj-1",
        "bj-1 joins at 10 and wins the tie by name"
    );
    let after = memory_of(placed);
    assert_eq!(
        after.use_counts,
        BTreeMap::from([
            ("bj-1".to_owned(), 11),
            ("bj-2".to_owned(), 12),
            ("bj-3".to_owned(), 10),
        ])
    );
    assert_eq!(after.use_counts_since_ms, Some(NOW - 60_000));
    assert_eq!(one(&place(&p, &fleet, "job", &after, NOW, 0)), "bj-3");

    // From nothing: seeded below the group size, then levelled by use.
    for seed in [0, 1, 7, 99] {
        let mut memory = RoutingMemory::default();
        let mut chosen = BTreeMap::<String, u32>::new();
        for _ in 0..12 {
            let placed = place(&p, &fleet, "job", &memory, NOW, seed);
            *chosen.entry(one(&placed).to_owned()).or_default() += 1;
            memory = memory_of(placed);
        }
        assert_eq!(memory.use_counts_since_ms, Some(NOW));
        let counts: Vec<u64> = memory.use_counts.values().copied().collect();
        let spread = counts.iter().max().unwrap() - counts.iter().min().unwrap();
        assert!(spread <= 1, "seed {seed}: counts {counts:?}");
        assert!(chosen.values().all(|n| *n >= 2), "seed {seed}: {chosen:?}");
    }

    // After 24 h the counts start again.
    let stale = RoutingMemory {
        use_counts: BTreeMap::from([("bj-1".to_owned(), 0), ("bj-2".to_owned(), 900)]),
        use_counts_since_ms: Some(NOW - USE_COUNTS_RESET_MS),
        ..RoutingMemory::default()
    };
    let after = memory_of(place(&p, &fleet, "job", &stale, NOW, 3));
    assert_eq!(after.use_counts_since_ms, Some(NOW));
    // Re-seeded below the group size (3), plus the one use.
    assert!(
        after.use_counts.values().sum::<u64>() <= 3 * 2 + 1,
        "{after:?}"
    );
    assert!(
        after.use_counts.values().all(|count| *count <= 3),
        "{after:?}"
    );
}

#[test]
fn least_recently_used_updates_last_use() {
    let fleet = fleet();
    let p = policy(Strategy::LeastRecentlyUsed);
    let memory = RoutingMemory {
        last_used_ms: BTreeMap::from([
            ("bj-1".to_owned(), NOW - 50),
            ("bj-3".to_owned(), NOW - 10),
            ("gone".to_owned(), NOW - 999),
        ]),
        ..RoutingMemory::default()
    };
    let mut memory = memory;
    let mut chosen = Vec::new();
    for step in 0..4 {
        let placed = place(&p, &fleet, "job", &memory, NOW + step, 0);
        chosen.push(one(&placed).to_owned());
        memory = memory_of(placed);
    }
    // bj-2 never used, then bj-1 (oldest), bj-3, then bj-2 again.
    assert_eq!(chosen, ["bj-2", "bj-1", "bj-3", "bj-2"]);
    assert_eq!(
        memory.last_used_ms,
        BTreeMap::from([
            ("bj-1".to_owned(), NOW + 1),
            ("bj-2".to_owned(), NOW + 3),
            ("bj-3".to_owned(), NOW + 2),
        ])
    );
}

#[test]
fn failover_skips_unhealthy_agents() {
    // (heartbeat ages of a, b, c in ms; interval ms; chosen or None = wait)
    let cases: [([i64; 3], u64, Option<&str>); 8] = [
        ([0, 0, 0], 15_000, Some("a")),
        ([22_500, 0, 0], 15_000, Some("a")), // exactly 1.5 intervals: still healthy
        ([22_501, 0, 0], 15_000, Some("b")),
        ([40_000, 30_000, 1_000], 15_000, Some("c")),
        ([40_000, 30_000, 1_000], 30_000, Some("a")), // 40 s ≤ 1.5 × 30 s
        ([50_000, 30_000, 1_000], 30_000, Some("b")), // a longer interval in a big fleet
        ([-5_000, 0, 0], 15_000, Some("a")),          // stamped after now: fresh
        ([30_000, 30_000, 30_000], 15_000, None),
    ];
    for (ages, interval, want) in cases {
        let fleet: Vec<AgentView> = ["a", "b", "c"]
            .iter()
            .zip(ages)
            .map(|(name, age)| AgentView {
                last_heartbeat_ms: NOW - age,
                heartbeat_interval_ms: interval,
                ..agent(name)
            })
            .collect();
        let placed = place(
            &policy(Strategy::Failover),
            &fleet,
            "job",
            &RoutingMemory::default(),
            NOW,
            0,
        );
        match want {
            Some(name) => assert_eq!(one(&placed), name, "{ages:?}"),
            None => assert!(matches!(placed, Placement::Wait { .. })),
        }
    }
    let silent: Vec<AgentView> = ["a", "b"]
        .iter()
        .map(|name| AgentView {
            last_heartbeat_ms: NOW - 60_000,
            ..agent(name)
        })
        .collect();
    let placed = place(
        &policy(Strategy::Failover),
        &silent,
        "job",
        &RoutingMemory::default(),
        NOW,
        0,
    );
    assert_eq!(
        wait_reason(&placed),
        "no heartbeat within 1.5 intervals from any of the 2 matching agents"
    );
}

#[test]
fn busyover_skips_full_agents() {
    // (used slots of a, b, c with 2 slots each; chosen)
    let cases = [
        ([0, 0, 0], Some("a")),
        ([2, 1, 0], Some("b")),
        ([2, 2, 1], Some("c")),
        ([3, 2, 0], Some("c")), // more used than offered: full
        ([2, 2, 2], None),
    ];
    for (used, want) in cases {
        let fleet: Vec<AgentView> = ["c", "b", "a"]
            .iter()
            .zip(used.iter().rev())
            .map(|(name, used)| AgentView {
                slots_total: 2,
                slots_used: *used,
                ..agent(name)
            })
            .collect();
        let placed = place(
            &policy(Strategy::Busyover),
            &fleet,
            "job",
            &RoutingMemory::default(),
            NOW,
            0,
        );
        match want {
            Some(name) => assert_eq!(one(&placed), name, "{used:?}"),
            None => assert_eq!(wait_reason(&placed), "all 3 matching agents are busy"),
        }
    }
}

#[test]
fn least_loaded_respects_thresholds() {
    let fleet = fleet();
    /// `Ok(agent)` chosen, or `Err(reason)` of the wait.
    type Want = Result<&'static str, &'static str>;
    // (max_cpu_percent, min_free_memory_bytes, outcome)
    let cases: [(Option<f64>, Option<u64>, Want); 6] = [
        (None, None, Ok("bj-1")),
        (Some(30.0), None, Ok("bj-1")), // at the ceiling is allowed
        (Some(25.0), None, Ok("bj-3")),
        (None, Some(GIB), Ok("bj-1")),
        (Some(50.0), Some(GIB), Ok("bj-1")),
        (
            Some(25.0),
            Some(GIB),
            Err(
                "none of the 3 matching agents fits: bj-1 is at CPU 30% (max 25%), bj-2 has \
                 no free slot, bj-3 has 512MiB free memory (min 1GiB)",
            ),
        ),
    ];
    for (max_cpu, min_memory, want) in cases {
        let p = RunOnPolicy {
            max_cpu_percent: max_cpu,
            min_free_memory_bytes: min_memory,
            ..policy(Strategy::LeastLoaded)
        };
        let placed = place(&p, &fleet, "job", &RoutingMemory::default(), NOW, 0);
        match want {
            Ok(name) => assert_eq!(one(&placed), name, "{max_cpu:?} {min_memory:?}"),
            Err(reason) => assert_eq!(wait_reason(&placed), reason),
        }
    }

    // Ties on free slots: lower CPU, then more memory, then name; unreported figures last.
    let tied = vec![
        AgentView {
            cpu_percent: None,
            ..agent("a")
        },
        AgentView {
            cpu_percent: Some(40.0),
            free_memory_bytes: Some(GIB),
            ..agent("b")
        },
        AgentView {
            cpu_percent: Some(40.0),
            free_memory_bytes: Some(2 * GIB),
            ..agent("c")
        },
        AgentView {
            cpu_percent: Some(f64::NAN),
            ..agent("d")
        },
    ];
    let p = policy(Strategy::LeastLoaded);
    let placed = place(&p, &tied, "job", &RoutingMemory::default(), NOW, 0);
    assert_eq!(one(&placed), "c");
    let strict = RunOnPolicy {
        max_cpu_percent: Some(30.0),
        ..p
    };
    let placed = place(&strict, &tied, "job", &RoutingMemory::default(), NOW, 0);
    assert_eq!(
        wait_reason(&placed),
        "none of the 4 matching agents fits: a reports no CPU use, b is at CPU 40% (max 30%), \
         c is at CPU 40% (max 30%), d reports no CPU use"
    );
}
