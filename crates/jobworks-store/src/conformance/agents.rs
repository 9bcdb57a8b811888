//! Conformance: the agent registry (enrollment tokens, enrollment, heartbeats, states,
//! deletion).

use super::at;
use crate::*;
use jobworks_domain::AttemptId;
use jobworks_domain::routing::{AdminState, AgentState};
use std::collections::BTreeMap;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn new_token(id: &str, uses: Option<u32>) -> NewEnrollmentToken {
    NewEnrollmentToken {
        id: id.into(),
        secret_sha256: format!("secret-of-{id}"),
        labels: labels(&[("site", "bj"), ("role", "db")]),
        uses,
        expires_at: None,
        created_by: "token:admin".into(),
    }
}

pub(crate) fn new_agent(name: &str) -> NewAgent {
    NewAgent {
        name: name.into(),
        credential_sha256: format!("cred-of-{name}"),
        heartbeat_interval_ms: 1_000,
    }
}

/// Enrollment tokens are created, listed newest first and revoked (a second revoke keeps the
/// first time); ids are unique.
pub async fn enrollment_tokens_create_list_revoke<S: Store>(store: &S) {
    assert!(
        store
            .list_enrollment_tokens()
            .await
            .expect("list")
            .is_empty()
    );
    let mut one = new_token("00000000000000a1", Some(1));
    one.expires_at = Some(at(3600));
    let created = store
        .create_enrollment_token(one.clone(), at(1))
        .await
        .expect("create");
    assert_eq!(created.id, "00000000000000a1");
    assert_eq!(created.labels["site"], "bj");
    assert_eq!(
        (created.uses_left, created.expires_at, created.created_at),
        (Some(1), Some(at(3600)), at(1))
    );
    assert_eq!(created.created_by, "token:admin");
    assert_eq!(created.revoked_at, None);
    assert!(matches!(
        store.create_enrollment_token(one, at(2)).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .create_enrollment_token(new_token("00000000000000b2", None), at(2))
        .await
        .expect("create unlimited");
    let listed = store.list_enrollment_tokens().await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["00000000000000b2", "00000000000000a1"]);
    assert_eq!(listed[0].uses_left, None);

    let revoked = store
        .revoke_enrollment_token("00000000000000a1", at(5))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(5)));
    let again = store
        .revoke_enrollment_token("00000000000000a1", at(9))
        .await
        .expect("revoke again");
    assert_eq!(again.revoked_at, Some(at(5)));
    assert!(matches!(
        store
            .revoke_enrollment_token("ffffffffffffffff", at(9))
            .await,
        Err(StoreError::EnrollmentTokenNotFound(_))
    ));
}

/// Enrollment checks the token (secret, revoked, used up, expired), takes one use, gives the
/// agent the token's labels, and refuses a name that exists until the agent is revoked and
/// deleted; a refused enrollment takes no use.
pub async fn agents_enroll_with_tokens<S: Store>(store: &S) {
    let mut two = new_token("00000000000000a1", Some(2));
    two.expires_at = Some(at(100));
    store
        .create_enrollment_token(two, at(0))
        .await
        .expect("create");
    let refused = |r: Result<AgentRecord, StoreError>, want: &str| match r {
        Err(StoreError::EnrollmentRefused(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("expected a refusal with `{want}`, got {other:?}"),
    };
    refused(
        store
            .enroll_agent("00000000000000a1", "wrong", new_agent("edge-1"), at(1))
            .await,
        "unknown enrollment token",
    );
    refused(
        store
            .enroll_agent("0000000000000000", "x", new_agent("edge-1"), at(1))
            .await,
        "unknown enrollment token",
    );
    let agent = store
        .enroll_agent(
            "00000000000000a1",
            "secret-of-00000000000000a1",
            new_agent("edge-1"),
            at(1),
        )
        .await
        .expect("enroll");
    assert_eq!(agent.name, "edge-1");
    assert_eq!(agent.labels, labels(&[("role", "db"), ("site", "bj")]));
    assert_eq!(agent.admin_state, AdminState::Active);
    assert_eq!(agent.enrolled_with, "00000000000000a1");
    assert_eq!(
        (
            agent.enrolled_at,
            agent.state_changed_at,
            agent.last_heartbeat_at
        ),
        (at(1), at(1), None)
    );
    assert_eq!(agent.heartbeat_interval_ms, 1_000);
    assert_eq!(agent.report, None);
    assert_eq!(agent.state(at(2)), AgentState::Online);

    // the same name again: refused, and the token's last use is not taken
    match store
        .enroll_agent(
            "00000000000000a1",
            "secret-of-00000000000000a1",
            new_agent("edge-1"),
            at(2),
        )
        .await
    {
        Err(StoreError::Conflict(why)) => assert!(why.contains("edge-1"), "{why}"),
        other => panic!("a second edge-1 must be refused: {other:?}"),
    }
    let token = &store.list_enrollment_tokens().await.expect("list")[0];
    assert_eq!(token.uses_left, Some(1));
    // expired at 100
    refused(
        store
            .enroll_agent(
                "00000000000000a1",
                "secret-of-00000000000000a1",
                new_agent("edge-2"),
                at(100),
            )
            .await,
        "expired",
    );
    store
        .enroll_agent(
            "00000000000000a1",
            "secret-of-00000000000000a1",
            new_agent("edge-2"),
            at(3),
        )
        .await
        .expect("second use");
    refused(
        store
            .enroll_agent(
                "00000000000000a1",
                "secret-of-00000000000000a1",
                new_agent("edge-3"),
                at(4),
            )
            .await,
        "used up",
    );
    store
        .create_enrollment_token(new_token("00000000000000b2", None), at(5))
        .await
        .expect("create");
    store
        .revoke_enrollment_token("00000000000000b2", at(6))
        .await
        .expect("revoke");
    refused(
        store
            .enroll_agent(
                "00000000000000b2",
                "secret-of-00000000000000b2",
                new_agent("edge-3"),
                at(7),
            )
            .await,
        "revoked",
    );

    // delete needs revoke first; then the name enrolls again
    assert!(matches!(
        store.delete_agent("edge-1").await,
        Err(StoreError::Conflict(_))
    ));
    store
        .set_agent_state("edge-1", AdminState::Revoked, at(8))
        .await
        .expect("revoke");
    store.delete_agent("edge-1").await.expect("delete");
    assert!(matches!(
        store.get_agent("edge-1").await,
        Err(StoreError::AgentNotFound(_))
    ));
    assert!(matches!(
        store.delete_agent("edge-1").await,
        Err(StoreError::AgentNotFound(_))
    ));
    store
        .create_enrollment_token(new_token("00000000000000c3", None), at(9))
        .await
        .expect("create");
    let back = store
        .enroll_agent(
            "00000000000000c3",
            "secret-of-00000000000000c3",
            NewAgent {
                credential_sha256: "cred-of-edge-1-again".into(),
                ..new_agent("edge-1")
            },
            at(10),
        )
        .await
        .expect("enroll again");
    assert_eq!(back.enrolled_at, at(10));
    let unlimited = &store.list_enrollment_tokens().await.expect("list")[0];
    assert_eq!(
        (unlimited.id.as_str(), unlimited.uses_left),
        ("00000000000000c3", None)
    );
}

/// Agents are found by credential hash, record heartbeats (the report read back as sent),
/// are listed by name, and move between active and draining; revoked is final.
pub async fn agents_heartbeat_and_states<S: Store>(store: &S) {
    store
        .create_enrollment_token(new_token("00000000000000a1", None), at(0))
        .await
        .expect("create");
    for name in ["edge-b", "edge-a"] {
        store
            .enroll_agent(
                "00000000000000a1",
                "secret-of-00000000000000a1",
                new_agent(name),
                at(1),
            )
            .await
            .expect("enroll");
    }
    let found = store
        .find_agent_by_credential("cred-of-edge-a")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.name, "edge-a");
    assert!(
        store
            .find_agent_by_credential("cred-of-nobody")
            .await
            .expect("find")
            .is_none()
    );

    let report = AgentReport {
        version: "1.2.3".into(),
        slots_total: 4,
        slots_used: 1,
        cpu_count: Some(8),
        load: Some([0.5, 0.25, 0.125]),
        cpu_percent: Some(37.5),
        free_memory_bytes: Some(3 << 30),
        free_disk_bytes: Some(1 << 40),
        running: vec![AttemptId(7), AttemptId(9)],
    };
    let beat = store
        .record_heartbeat("edge-a", report.clone(), 2_000, at(5))
        .await
        .expect("heartbeat");
    assert_eq!(beat.last_heartbeat_at, Some(at(5)));
    assert_eq!(beat.heartbeat_interval_ms, 2_000);
    assert_eq!(beat.report.as_ref(), Some(&report));
    let bare = AgentReport {
        version: "1.2.3".into(),
        slots_total: 2,
        ..AgentReport::default()
    };
    let beat = store
        .record_heartbeat("edge-b", bare.clone(), 1_000, at(6))
        .await
        .expect("heartbeat");
    assert_eq!(beat.report, Some(bare));
    assert!(matches!(
        store
            .record_heartbeat("nobody", report.clone(), 1_000, at(6))
            .await,
        Err(StoreError::AgentNotFound(_))
    ));

    let listed = store.list_agents().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["edge-a", "edge-b"]);
    assert_eq!(listed[0].report.as_ref(), Some(&report));
    let got = store.get_agent("edge-a").await.expect("get");
    assert_eq!(got, listed[0]);
    assert_eq!(got.state(at(6)), AgentState::Online);
    assert_eq!(
        got.state(at(5) + chrono::Duration::milliseconds(6_001)),
        AgentState::Suspect
    );
    // a goodbye makes it offline at once; its next heartbeat brings it back
    let gone = store
        .record_agent_stopped("edge-b", at(7))
        .await
        .expect("stopped");
    assert_eq!(gone.stopped_at, Some(at(7)));
    assert_eq!(gone.state(at(7)), AgentState::Offline);
    assert_eq!(
        store.get_agent("edge-b").await.expect("get").state(at(7)),
        AgentState::Offline
    );
    let back = store
        .record_heartbeat("edge-b", AgentReport::default(), 1_000, at(8))
        .await
        .expect("heartbeat");
    assert_eq!(back.stopped_at, None);
    assert_eq!(back.state(at(8)), AgentState::Online);
    assert!(matches!(
        store.record_agent_stopped("nobody", at(8)).await,
        Err(StoreError::AgentNotFound(_))
    ));
    assert!(matches!(
        store.get_agent("nobody").await,
        Err(StoreError::AgentNotFound(_))
    ));

    let drained = store
        .set_agent_state("edge-a", AdminState::Draining, at(7))
        .await
        .expect("drain");
    assert_eq!(
        (drained.admin_state, drained.state_changed_at),
        (AdminState::Draining, at(7))
    );
    assert_eq!(drained.state(at(7)), AgentState::Draining);
    let same = store
        .set_agent_state("edge-a", AdminState::Draining, at(8))
        .await
        .expect("drain again");
    assert_eq!(same.state_changed_at, at(7), "no change keeps the time");
    let undrained = store
        .set_agent_state("edge-a", AdminState::Active, at(9))
        .await
        .expect("undrain");
    assert_eq!(undrained.admin_state, AdminState::Active);
    store
        .set_agent_state("edge-a", AdminState::Revoked, at(10))
        .await
        .expect("revoke");
    let found = store
        .find_agent_by_credential("cred-of-edge-a")
        .await
        .expect("find")
        .expect("a revoked agent is still found (the caller refuses it)");
    assert_eq!(found.state(at(10)), AgentState::Revoked);
    for state in [AdminState::Active, AdminState::Draining] {
        assert!(matches!(
            store.set_agent_state("edge-a", state, at(11)).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert!(matches!(
        store
            .set_agent_state("nobody", AdminState::Draining, at(11))
            .await,
        Err(StoreError::AgentNotFound(_))
    ));
}
