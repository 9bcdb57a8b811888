//! Table tests of the placer's one decision, [`plan`].

use super::*;
use jobworks_domain::routing::{AgentState, RunOn};
use jobworks_domain::{JobSpec, RunId};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_900_000_000_000 + ms).expect("time")
}

fn agent(name: &str, site: &str, state: AgentState, free: u32) -> AgentView {
    AgentView {
        name: name.to_owned(),
        labels: [("site".to_owned(), site.to_owned())].into(),
        state,
        slots_total: 4,
        slots_used: 4 - free,
        cpu_percent: None,
        free_memory_bytes: None,
        last_heartbeat_ms: at(0).timestamp_millis(),
        heartbeat_interval_ms: 500,
    }
}

/// A job named `job` whose `run_on` is the TOML inline table `run_on`.
fn spec(run_on: &str) -> JobSpec {
    let file = format!(
        "[[job]]\nname = \"job\"\nrun_on = {run_on}\n[job.params.customer]\ntype = \"string\"\n\
         default = \"none\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n"
    );
    jobworks_domain::file::parse_job_file("j.toml", &file, &Default::default())
        .unwrap_or_else(|e| panic!("{run_on}: {e:?}"))
        .remove(0)
}

fn task(id: i64, spec: &JobSpec, ready_ms: i64, placed: Option<&str>) -> TaskToPlace {
    TaskToPlace {
        task_instance_id: TaskInstanceId(id),
        run_id: RunId(id),
        definition_id: JobId(1),
        task: "main".into(),
        spec: spec.clone(),
        params: serde_json::json!({"customer": format!("c{id}")}),
        placed_agent: placed.map(str::to_owned),
        ready_since: at(ready_ms),
        wait_reason: None,
        memory: RoutingMemory::default(),
    }
}

/// What a plan did per task, in order: `id→agent`, `id wait: reason`, `id fail: reason`.
fn outcome(plan: &Plan) -> Vec<String> {
    let mut out: Vec<(i64, String)> = Vec::new();
    for p in &plan.placements {
        out.push((p.task_instance_id.0, format!("→{}", p.agent)));
    }
    for w in &plan.waits {
        out.push((w.task_instance_id.0, format!("wait: {}", w.reason)));
    }
    for f in &plan.failures {
        out.push((f.task_instance_id.0, format!("fail: {}", f.reason)));
    }
    out.sort();
    out.into_iter()
        .map(|(id, what)| format!("{id} {what}"))
        .collect()
}

#[test]
fn plans_place_wait_or_fail_each_task() {
    use AgentState::*;
    let fleet = vec![
        agent("bj-1", "bj", Online, 1),
        agent("bj-2", "bj", Online, 4),
        agent("sh-1", "sh", Online, 4),
        agent("gz-1", "gz", Offline, 4),
    ];
    let now = 10_000;
    // (what, run_on, tasks as (id, ready at ms, placed on), outcome per task)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(i64, i64, Option<&'a str>)>,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "labels pick the group; first in name order",
            r#"{ labels = { site = "bj" }, strategy = "first" }"#,
            vec![(1, 0, None)],
            vec!["1 →bj-1"],
        ),
        (
            "round robin carries its counter from task to task in one pass",
            r#"{ labels = { site = "bj" }, strategy = "round_robin" }"#,
            vec![(1, 0, None), (2, 0, None), (3, 0, None)],
            // the first counter is seed % 100 = 7: odd, so bj-2 first
            vec!["1 →bj-2", "2 →bj-1", "3 →bj-2"],
        ),
        (
            "busyover counts the slots this pass took",
            r#"{ labels = { site = "bj" }, strategy = "busyover" }"#,
            vec![(1, 0, None), (2, 0, None)],
            vec!["1 →bj-1", "2 →bj-2"],
        ),
        (
            "least loaded fills the freest agent first",
            r#"{ labels = { site = "bj" } }"#,
            vec![(1, 0, None)],
            vec!["1 →bj-2"],
        ),
        (
            "no online agent matches: the task waits, naming the offline one",
            r#"{ labels = { site = "gz" } }"#,
            vec![(1, 0, None)],
            vec!["1 wait: no online agent matches site=gz (gz-1 is offline)"],
        ),
        (
            "nobody has the label at all",
            r#"{ labels = { site = "xx" }, placement_timeout = "30s" }"#,
            vec![(1, 0, None)],
            vec!["1 wait: no online agent matches site=xx"],
        ),
        (
            "past placement_timeout it fails with the wait's reason",
            r#"{ labels = { site = "xx" }, placement_timeout = "2s" }"#,
            vec![(1, 7_999, None), (2, 8_001, None)],
            vec![
                "1 fail: not placed within placement_timeout 2s: no online agent matches site=xx",
                "2 wait: no online agent matches site=xx",
            ],
        ),
        (
            "a stale placement is placed again",
            r#"{ labels = { site = "sh" }, strategy = "first" }"#,
            vec![(1, 0, Some("sh-0"))],
            vec!["1 →sh-1"],
        ),
    ];
    for (what, run_on, tasks, want) in cases {
        let spec = spec(run_on);
        let tasks: Vec<TaskToPlace> = tasks
            .into_iter()
            .map(|(id, ready, placed)| task(id, &spec, ready, placed))
            .collect();
        let plan = plan(&tasks, &fleet, at(now), 7);
        assert_eq!(outcome(&plan), want, "{what}");
        for placement in &plan.placements {
            let task = tasks
                .iter()
                .find(|t| t.task_instance_id == placement.task_instance_id)
                .expect("task");
            assert_eq!(placement.expected, task.placed_agent, "{what}");
        }
    }
}

#[test]
fn an_unchanged_wait_writes_nothing() {
    let fleet = vec![agent("bj-1", "bj", AgentState::Online, 4)];
    let spec = spec(r#"{ labels = { site = "xx" } }"#);
    let reason = "no online agent matches site=xx";
    let mut known = task(1, &spec, 0, None);
    known.wait_reason = Some(reason.to_owned());
    let mut stale = task(2, &spec, 0, Some("gone"));
    stale.wait_reason = Some(reason.to_owned());
    let mut changed = task(3, &spec, 0, None);
    changed.wait_reason = Some("all 2 matching agents are busy".to_owned());
    let plan = plan(&[known, stale, changed], &fleet, at(0), 0);
    let ids: Vec<i64> = plan.waits.iter().map(|w| w.task_instance_id.0).collect();
    assert_eq!(
        ids,
        [2, 3],
        "the stale placement is dropped, the new reason written"
    );
}

#[test]
fn consistent_hash_sends_one_customer_to_one_agent() {
    use AgentState::*;
    let fleet = vec![
        agent("bj-1", "bj", Online, 4),
        agent("bj-2", "bj", Online, 4),
        agent("bj-3", "bj", Online, 4),
    ];
    let spec = spec(r#"{ strategy = "consistent_hash", hash_key = "params.customer" }"#);
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for seed in 0..20u64 {
        let tasks: Vec<TaskToPlace> = (1..=9).map(|id| task(id, &spec, 0, None)).collect();
        let plan = plan(&tasks, &fleet, at(0), seed);
        assert_eq!(plan.placements.len(), 9);
        for p in plan.placements {
            let customer = format!("c{}", p.task_instance_id.0);
            let agent = first.entry(customer).or_insert_with(|| p.agent.clone());
            assert_eq!(*agent, p.agent, "seed {seed}");
        }
    }
    let used: std::collections::BTreeSet<&String> = first.values().collect();
    assert!(used.len() > 1, "nine customers all on one agent: {first:?}");
}

#[test]
fn memory_of_a_placement_is_the_next_one_of_its_definition() {
    let fleet = vec![
        agent("a", "bj", AgentState::Online, 4),
        agent("b", "bj", AgentState::Online, 4),
    ];
    let spec = spec(r#"{ strategy = "round_robin" }"#);
    let mut one = task(1, &spec, 0, None);
    one.memory = RoutingMemory {
        round_robin: Some(41),
        ..Default::default()
    };
    // another definition keeps its own memory
    let mut other = task(2, &spec, 0, None);
    other.definition_id = JobId(2);
    let plan = plan(&[one.clone(), other, one], &fleet, at(0), 0);
    let rr: Vec<Option<u64>> = plan
        .placements
        .iter()
        .map(|p| p.memory.round_robin)
        .collect();
    // the other definition starts at its seed: (0 ^ 0x9E37_79B9_7F4A_7C15) % 100 = 85
    assert_eq!(rr, [Some(42), Some(86), Some(43)]);
    let agents: Vec<&str> = plan.placements.iter().map(|p| p.agent.as_str()).collect();
    assert_eq!(agents, ["b", "b", "a"]);
    assert_eq!(plan.placements[0].reason, "placed on b (round_robin)");
}

#[test]
fn untargeted_tasks_are_left_alone() {
    let mut spec = spec(r#"{ strategy = "first" }"#);
    spec.run_on = None;
    let fleet = vec![agent("a", "bj", AgentState::Online, 4)];
    assert_eq!(
        plan(&[task(1, &spec, 0, None)], &fleet, at(0), 0),
        Plan::default()
    );
    // `RunOn` is the file's shape: the default policy is least_loaded over any agent
    assert_eq!(
        RunOn::default().validate().expect("empty run_on").strategy,
        jobworks_domain::routing::Strategy::LeastLoaded
    );
}
