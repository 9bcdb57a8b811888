//! The placer's [`AgentSource`]: the agent registry in the store (`Store::list_agents`), so
//! every server's leader sees every enrolled agent whatever server it talks to, with its
//! labels from its enrollment token, its effective state from its heartbeats
//! (`jobworks_domain::routing::effective_state`: suspect after three missed intervals) and the
//! slots and load it last reported.

use crate::placer::AgentSource;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobworks_domain::routing::AgentView;
use jobworks_store::{Store, StoreError};
use std::sync::Arc;

/// Agents as the registry holds them.
#[derive(Clone)]
pub struct RegistryAgents {
    /// The store holding the registry.
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl AgentSource for RegistryAgents {
    /// Every enrolled agent as routing sees it at `now` (`AgentRecord::view`): one read of
    /// the registry. Errors: the store's.
    async fn agents(&self, now: DateTime<Utc>) -> Result<Vec<AgentView>, StoreError> {
        Ok(self
            .store
            .list_agents()
            .await?
            .iter()
            .map(|agent| agent.view(now))
            .collect())
    }
}
