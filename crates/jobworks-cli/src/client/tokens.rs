//! Client calls of the token routes (`/api/v1/tokens`).

use super::{ApiClient, decode};
use jobworks_protocol::{CreateTokenRequest, CreatedTokenView, TokenView};
use reqwest::Method;

impl ApiClient {
    /// `GET /tokens`.
    pub async fn list_tokens(&self) -> anyhow::Result<Vec<TokenView>> {
        self.get(&["tokens"], &[]).await
    }

    /// `POST /tokens`: the new token with its secret.
    pub async fn create_token(
        &self,
        request: &CreateTokenRequest,
    ) -> anyhow::Result<CreatedTokenView> {
        self.post(&["tokens"], request).await
    }

    /// `DELETE /tokens/{name}`: the revoked token.
    pub async fn revoke_token(&self, name: &str) -> anyhow::Result<TokenView> {
        let response = self
            .send(self.request(Method::DELETE, &["tokens", name], &[]))
            .await?;
        decode(response).await
    }
}
