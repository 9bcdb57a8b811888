//! The listener behind `Store::subscribe`: one connection `LISTEN`ing on
//! [`CHANNEL`](crate::tx::CHANNEL), decoding each payload into a [`StoreEvent`] for a
//! broadcast channel.

use jobworks_store::{StoreError, StoreEvent};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::codec::db_err;
use crate::tx::CHANNEL;

/// Most delivery delays kept between two `drain_event_lags` calls (the oldest go first).
const MAX_LAGS: usize = 4096;

/// Delivery delays of received events, s, waiting for `Store::drain_event_lags`.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventLags(Arc<Mutex<Vec<f64>>>);

impl EventLags {
    fn record(&self, seconds: f64) {
        let mut lags = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lags.len() >= MAX_LAGS {
            lags.remove(0);
        }
        lags.push(seconds);
    }

    /// The delays recorded since the last call.
    pub(crate) fn drain(&self) -> Vec<f64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A payload as sent: the event with the database's clock at sending, µs since the epoch.
#[derive(Deserialize)]
struct Envelope {
    at_us: i64,
    event: StoreEvent,
}

/// The event in `payload` and its delivery delay, s (`None` for a bare event, as servers
/// before the envelope sent), or why it cannot be read.
fn decode(
    payload: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(StoreEvent, Option<f64>), serde_json::Error> {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) => {
            let lag_us = now.timestamp_micros() - envelope.at_us;
            Ok((envelope.event, Some(lag_us.max(0) as f64 / 1e6)))
        }
        Err(_) => serde_json::from_str::<StoreEvent>(payload).map(|event| (event, None)),
    }
}

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
    lags: EventLags,
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
                    match decode(notification.payload(), chrono::Utc::now()) {
                        Ok((event, lag)) => {
                            if let Some(seconds) = lag {
                                lags.record(seconds);
                            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn payloads_with_and_without_the_clock() {
        let now = chrono::Utc
            .timestamp_micros(1_000_250_000)
            .single()
            .expect("instant");
        let (event, lag) =
            decode(r#"{"at_us":1000000000,"event":"RunsQueued"}"#, now).expect("an envelope");
        assert_eq!((event, lag), (StoreEvent::RunsQueued, Some(0.25)));
        let (event, lag) = decode(r#""DefinitionsChanged""#, now).expect("a bare event");
        assert_eq!((event, lag), (StoreEvent::DefinitionsChanged, None));
        // a sender clock ahead of ours is no negative lag
        let (_, lag) = decode(r#"{"at_us":2000000000,"event":"RunsQueued"}"#, now).expect("ok");
        assert_eq!(lag, Some(0.0));
        assert!(decode("not json", now).is_err());
    }

    #[test]
    fn lags_are_bounded_and_drained() {
        let lags = EventLags::default();
        for i in 0..(MAX_LAGS + 10) {
            lags.record(i as f64);
        }
        let drained = lags.drain();
        assert_eq!(drained.len(), MAX_LAGS);
        assert_eq!(drained[0], 10.0, "the oldest went first");
        assert!(lags.drain().is_empty());
    }
}
