//! Wire types of the token routes (`/api/v1/tokens`, admin tokens only).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API token as listed: never its secret, which is shown once at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Name, unique among live tokens; what approval `approvers` lists.
    pub name: String,
    /// Who the token acts for (today its name unless given; users come later).
    pub owner: String,
    /// May manage tokens.
    pub admin: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last used (recorded at most once a minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// Body of `POST /tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Name: 1–64 of `a-z A-Z 0-9 . _ -`, starting with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// Who it acts for; default: the name.
    #[serde(default)]
    pub owner: Option<String>,
    /// May manage tokens (default false).
    #[serde(default)]
    pub admin: bool,
    /// Lifetime in seconds from now (at least 1, at most 100 years); `None` = never
    /// expires.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3_155_760_000_u64)]
    pub expires_in_s: Option<u64>,
}

/// Answer of `POST /tokens` (201): the secret, shown this once, and the stored token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenView {
    /// The bearer secret (`jw_` + 43 characters). Only its SHA-256 is stored.
    pub token: String,
    /// The stored token.
    pub info: TokenView,
}
