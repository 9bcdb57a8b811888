//! Conformance: tokens by name (create, find, list, revoke, touch, delete).

use super::at;
use crate::*;

fn new_token(name: &str, hash: &str, admin: bool) -> NewToken {
    NewToken {
        name: name.into(),
        sha256_hex: hash.into(),
        owner: name.into(),
        admin,
        expires_at: None,
    }
}

/// Names are unique among live tokens; revoking frees the name and is seen by `find_token`
/// at once; `touch_token` records the last use; `delete_token` removes the row.
pub async fn tokens_by_name<S: Store>(store: &S) {
    assert_eq!(store.count_tokens().await.expect("count"), 0);
    let admin = store
        .create_token(new_token("admin", "h-admin", true), at(0))
        .await
        .expect("create admin");
    assert!(admin.admin);
    assert_eq!(admin.owner, "admin");
    let mut rm = new_token("release-manager", "h-rm", false);
    rm.expires_at = Some(at(3600));
    let created = store.create_token(rm, at(1)).await.expect("create rm");
    assert_eq!(created.expires_at, Some(at(3600)));
    assert_eq!(created.created_at, at(1));
    assert!(!created.admin);
    assert!(matches!(
        store
            .create_token(new_token("release-manager", "h-other", false), at(2))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let found = store
        .find_token("h-rm")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(
        (found.name.as_str(), found.last_used_at),
        ("release-manager", None)
    );
    store.touch_token(found.id, at(5)).await.expect("touch");
    let touched = store
        .find_token("h-rm")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(touched.last_used_at, Some(at(5)));
    assert!(store.find_token("nope").await.expect("find").is_none());

    let revoked = store
        .revoke_token("release-manager", at(6))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(6)));
    let seen = store.find_token("h-rm").await.expect("find").expect("kept");
    assert_eq!(seen.revoked_at, Some(at(6)), "revocation is seen at once");
    assert!(matches!(
        store.revoke_token("release-manager", at(7)).await,
        Err(StoreError::TokenNotFound(_))
    ));
    // the name is free again
    store
        .create_token(new_token("release-manager", "h-rm2", false), at(8))
        .await
        .expect("recreate");
    let names: Vec<(String, bool)> = store
        .list_tokens()
        .await
        .expect("list")
        .into_iter()
        .map(|t| (t.name, t.revoked_at.is_some()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("admin".to_string(), false),
            ("release-manager".to_string(), true),
            ("release-manager".to_string(), false),
        ]
    );
    assert_eq!(store.count_tokens().await.expect("count"), 3);
    store.delete_token(admin.id).await.expect("delete");
    assert!(store.find_token("h-admin").await.expect("find").is_none());
    assert_eq!(store.count_tokens().await.expect("count"), 2);
}
