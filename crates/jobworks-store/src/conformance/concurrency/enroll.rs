//! Races on the agent registry: several servers enrolling agents with the same token at once.

use super::{Shared, race};
use crate::conformance::agents::{new_agent, new_token};
use crate::conformance::at;
use crate::*;

/// 20 rounds, each with a fresh token: every handle enrolls an agent of its own name with it
/// at once. A one-use token enrolls exactly one agent (the others are refused as used up), a
/// two-use token exactly two; then every handle enrolls the same name with an unlimited
/// token: exactly one agent of that name exists, the others get `Conflict`. As in a serial
/// execution, the number of agents equals the uses taken.
pub async fn racing_enrollments_take_each_use_once<S: Store + Clone>(stores: Vec<S>) {
    const ROUNDS: usize = 20;
    let shared = Shared::new();
    for round in 0..ROUNDS {
        let uses = if round % 2 == 0 { 1 } else { 2 };
        let id = format!("{round:016x}");
        stores[0]
            .create_enrollment_token(new_token(&id, Some(uses)), at(0))
            .await
            .expect("create token");
        let outcomes = race(&stores, |i, store| {
            let shared = shared.clone();
            let id = id.clone();
            async move {
                let secret = format!("secret-of-{id}");
                let agent = new_agent(&format!("r{round}-h{i}"));
                let now = shared.now();
                shared
                    .retrying_result("enroll", || {
                        store.enroll_agent(&id, &secret, agent.clone(), now)
                    })
                    .await
            }
        })
        .await;
        let mut won = 0;
        for outcome in outcomes {
            match outcome {
                Ok(_) => won += 1,
                Err(StoreError::EnrollmentRefused(why)) => {
                    assert!(why.contains("used up"), "{why}")
                }
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
        assert_eq!(
            won, uses,
            "round {round}: agents enrolled with a {uses}-use token"
        );
        let token = stores[1]
            .list_enrollment_tokens()
            .await
            .expect("list")
            .into_iter()
            .find(|t| t.id == id)
            .expect("the token");
        assert_eq!(token.uses_left, Some(0), "round {round}");
    }
    stores[0]
        .create_enrollment_token(new_token("00000000000000ff", None), at(0))
        .await
        .expect("create token");
    for round in 0..ROUNDS {
        let name = format!("same-{round}");
        let outcomes = race(&stores, |i, store| {
            let shared = shared.clone();
            let name = name.clone();
            async move {
                let agent = NewAgent {
                    credential_sha256: format!("cred-{name}-{i}"),
                    ..new_agent(&name)
                };
                let now = shared.now();
                shared
                    .retrying_result("enroll", || {
                        store.enroll_agent(
                            "00000000000000ff",
                            "secret-of-00000000000000ff",
                            agent.clone(),
                            now,
                        )
                    })
                    .await
            }
        })
        .await;
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: one agent per name");
        for outcome in outcomes {
            match outcome {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("round {round}: unexpected {e}"),
            }
        }
    }
    let agents = stores[2].list_agents().await.expect("list");
    assert_eq!(agents.len(), ROUNDS / 2 + 2 * (ROUNDS / 2) + ROUNDS);
    shared.report("racing_enrollments_take_each_use_once");
}
