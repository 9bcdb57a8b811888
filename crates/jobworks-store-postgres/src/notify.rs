//! The listener behind `Store::subscribe`: one connection `LISTEN`ing on
//! [`CHANNEL`](crate::tx::CHANNEL), decoding each payload into a [`StoreEvent`] for a
//! broadcast channel.

use jobworks_store::{StoreError, StoreEvent};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::codec::db_err;
use crate::tx::CHANNEL;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // a closed pool means the store is going away; the token ends the task then
    listener.ignore_pool_close_event(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Connects the listener (returns once it listens, so events committed after `connect`
/// returns are delivered) and spawns the task that feeds `events` until `stop` is cancelled.
/// After a lost connection it reconnects with backoff (50 ms doubling to 5 s) forever and
/// sends [`StoreEvent::Resync`] once listening again. Errors: the first connection failed.
pub(crate) async fn start(
    pool: PgPool,
    events: broadcast::Sender<StoreEvent>,
    stop: CancellationToken,
) -> Result<(), StoreError> {
    let first = listen(&pool).await.map_err(db_err)?;
    tokio::spawn(async move {
        let mut listener = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            let Some(current) = listener.as_mut() else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                match listen(&pool).await {
                    Ok(fresh) => {
                        listener = Some(fresh);
                        backoff = Duration::from_millis(50);
                        let _ = events.send(StoreEvent::Resync);
                    }
                    // the store was closed: nobody will read events any more
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "store event listener cannot reconnect");
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = current.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<StoreEvent>(notification.payload()) {
                        Ok(event) => {
                            let _ = events.send(event);
                        }
                        Err(e) => tracing::warn!(
                            error = %e,
                            payload = notification.payload(),
                            "undecodable store event"
                        ),
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                // the connection was lost: build a fresh listener (and say so once it is back)
                Ok(None) | Err(_) => listener = None,
            }
        }
    });
    Ok(())
}
