//! Client calls of the agent registry routes (`/api/v1/agents…`).

use super::{ApiClient, decode};
use jobworks_protocol::{
    AgentView, CreateEnrollmentTokenRequest, CreatedEnrollmentTokenView, EnrollmentTokenView,
};
use reqwest::Method;

impl ApiClient {
    /// `GET /agents`.
    pub async fn list_agents(&self) -> anyhow::Result<Vec<AgentView>> {
        self.get(&["agents"], &[]).await
    }

    /// `GET /agents/{name}`.
    pub async fn get_agent(&self, name: &str) -> anyhow::Result<AgentView> {
        self.get(&["agents", name], &[]).await
    }

    /// `POST /agents/{name}/{action}` (`drain`, `undrain`, `revoke`): the agent after it.
    pub async fn agent_action(&self, name: &str, action: &str) -> anyhow::Result<AgentView> {
        let response = self
            .send(self.request(Method::POST, &["agents", name, action], &[]))
            .await?;
        decode(response).await
    }

    /// `DELETE /agents/{name}`.
    pub async fn delete_agent(&self, name: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, &["agents", name], &[]))
            .await?;
        Ok(())
    }

    /// `GET /agents/tokens`.
    pub async fn list_enrollment_tokens(&self) -> anyhow::Result<Vec<EnrollmentTokenView>> {
        self.get(&["agents", "tokens"], &[]).await
    }

    /// `POST /agents/tokens`: the new token, shown once.
    pub async fn create_enrollment_token(
        &self,
        request: &CreateEnrollmentTokenRequest,
    ) -> anyhow::Result<CreatedEnrollmentTokenView> {
        self.post(&["agents", "tokens"], request).await
    }

    /// `DELETE /agents/tokens/{id}`: the revoked token.
    pub async fn revoke_enrollment_token(&self, id: &str) -> anyhow::Result<EnrollmentTokenView> {
        let response = self
            .send(self.request(Method::DELETE, &["agents", "tokens", id], &[]))
            .await?;
        decode(response).await
    }
}
