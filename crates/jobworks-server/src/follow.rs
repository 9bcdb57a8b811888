//! Live log followers (`GET /runs/{id}/logs/follow`): the log writer publishes every committed
//! batch of lines on one broadcast channel, the finisher publishes the runs whose attempts it
//! recorded, and each follower turns what concerns its run into Server-Sent Events.
//!
//! A follower subscribes before it reads the backlog from the store, so no line committed
//! meanwhile is missed; lines it has sent already (sequence number not above the last sent)
//! are skipped. A follower that falls behind the channel (`Lagged`) reads from the store from
//! its last sent line. A run ends only after its lines are stored (the flush barrier), so when
//! the store says the run ended, one last read from the store completes its log and the
//! `end` event follows. When the server stops, [`LogHub::close`] ends every stream the same
//! way, with the run as it is then.

use crate::api::convert::{log_view, run_view};
use axum::response::sse::Event;
use jobworks_domain::{AttemptId, RunId};
use jobworks_protocol::StreamError;
use jobworks_store::{DefinitionKind, LogRecord, NewLogLine, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Messages kept for slow followers before they lag (and catch up from the store).
const CHANNEL: usize = 1024;
/// Lines read from the store at a time when catching up.
const PAGE: u32 = 1000;
/// How often a follower checks its run's state when nothing told it the run changed: a
/// fallback for runs ended by another server sharing the store (this server's finisher,
/// workflow runtime and cancel route publish every run they end).
const STATE_CHECK: Duration = Duration::from_millis(500);
/// Events buffered per follower before it waits for its client.
const EVENTS: usize = 256;

/// What the writers publish.
#[derive(Debug)]
pub enum Published {
    /// Lines just committed, with their sequence numbers, in order.
    Lines(Vec<(i64, NewLogLine)>),
    /// Runs whose attempts' outcomes were just committed: they may have ended.
    Changed(Vec<RunId>),
    /// Lines of `run` up to sequence number `last_seq` were stored by another server sharing
    /// the store: its followers read them from the store.
    Stored {
        /// The run.
        run: RunId,
        /// Sequence number of the last line stored.
        last_seq: i64,
    },
    /// Store events may have been missed: every follower reads the store now.
    Resync,
}

/// The broadcast hub between the writers and the followers.
#[derive(Clone, Debug)]
pub struct LogHub {
    tx: broadcast::Sender<Arc<Published>>,
    closing: CancellationToken,
}

impl Default for LogHub {
    fn default() -> Self {
        LogHub::new()
    }
}

impl LogHub {
    /// A hub with no followers.
    pub fn new() -> LogHub {
        LogHub {
            tx: broadcast::channel(CHANNEL).0,
            closing: CancellationToken::new(),
        }
    }

    /// Publishes committed lines (no-op without followers).
    pub fn lines(&self, lines: Vec<(i64, NewLogLine)>) {
        if !lines.is_empty() && self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(Published::Lines(lines)));
        }
    }

    /// Publishes runs whose outcomes were committed (no-op without followers).
    pub fn changed(&self, runs: Vec<RunId>) {
        if !runs.is_empty() && self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(Published::Changed(runs)));
        }
    }

    /// Publishes that lines of `run` up to `last_seq` were stored (by any server; followers
    /// that already sent them do nothing).
    pub fn stored(&self, run: RunId, last_seq: i64) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(Published::Stored { run, last_seq }));
        }
    }

    /// Makes every follower read the store now (store events may have been missed).
    pub fn resync(&self) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(Published::Resync));
        }
    }

    /// Ends every stream, now and later, with its `end` event (the server is stopping).
    pub fn close(&self) {
        self.closing.cancel();
    }
}

/// Starts following `run` after sequence number `after`; returns the events to stream. The
/// stream ends after the `end` event (the run ended, or the server is stopping) or after an
/// `error` event (the store failed; data is a [`StreamError`]).
pub fn follow(
    store: Arc<dyn Store>,
    hub: &LogHub,
    run: RunId,
    after: i64,
) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(EVENTS);
    let follower = Follower {
        store,
        rx: hub.tx.subscribe(),
        closing: hub.closing.clone(),
        run,
        after,
        tasks: HashMap::new(),
        workflow: false,
        published_up_to: None,
        out: tx,
    };
    tokio::spawn(follower.run());
    rx
}

/// Why a follower stopped early.
enum Stop {
    /// The client went away.
    Gone,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

struct Follower {
    store: Arc<dyn Store>,
    rx: broadcast::Receiver<Arc<Published>>,
    closing: CancellationToken,
    run: RunId,
    /// The last sequence number sent.
    after: i64,
    /// Task ids of the run's attempts (workflow runs), for pushed lines.
    tasks: HashMap<AttemptId, String>,
    workflow: bool,
    /// The last sequence number of the last published batch (to see lines stored elsewhere).
    published_up_to: Option<i64>,
    out: mpsc::Sender<Event>,
}

impl Follower {
    async fn run(mut self) {
        if let Err(Stop::Store(e)) = self.stream().await {
            tracing::warn!(run = %self.run, error = %e, "log stream ended by a store error");
            let _ = self.out.send(error_event(&e)).await;
        }
    }

    async fn stream(&mut self) -> Result<(), Stop> {
        self.learn_tasks().await?;
        self.catch_up().await?;
        if self.ended().await? {
            return Ok(());
        }
        let mut check = tokio::time::interval(STATE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.closing.cancelled() => return self.end().await,
                _ = self.out.closed() => return Err(Stop::Gone),
                message = self.rx.recv() => match message {
                    Ok(message) => match &*message {
                        Published::Lines(lines) => self.pushed(lines).await?,
                        Published::Changed(runs) if runs.contains(&self.run) => {
                            if self.ended().await? {
                                return Ok(());
                            }
                        }
                        Published::Changed(_) => {}
                        Published::Stored { run, last_seq } if *run == self.run && *last_seq > self.after => {
                            self.catch_up().await?;
                        }
                        Published::Stored { .. } => {}
                        Published::Resync => {
                            self.catch_up().await?;
                            if self.ended().await? {
                                return Ok(());
                            }
                        }
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await?,
                    Err(broadcast::error::RecvError::Closed) => return self.end().await,
                },
                _ = check.tick() => {
                    // lines stored by another server sharing the store are not published here
                    self.catch_up().await?;
                    if self.ended().await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Sends the pushed lines of this run not sent yet. Sequence numbers are global and this
    /// server's writer publishes consecutive batches; a batch that does not follow the last
    /// one published means lines were stored meanwhile by another server, so those are read
    /// from the store first and no line is sent out of order or skipped.
    async fn pushed(&mut self, lines: &[(i64, NewLogLine)]) -> Result<(), Stop> {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Ok(());
        };
        let gap = self.published_up_to.is_some_and(|p| first.0 > p + 1);
        self.published_up_to = Some(last.0);
        if gap {
            self.catch_up().await?;
        }
        for (seq, line) in lines {
            if line.run_id != self.run || *seq <= self.after {
                continue;
            }
            if self.workflow && !self.tasks.contains_key(&line.attempt_id) {
                self.learn_tasks().await?;
            }
            let record = LogRecord {
                seq: *seq,
                attempt_id: line.attempt_id,
                task: self.tasks.get(&line.attempt_id).cloned(),
                at: line.at,
                stream: line.stream,
                text: line.text.clone(),
            };
            self.send_line(&record).await?;
        }
        Ok(())
    }

    /// Sends every stored line after the last one sent.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let lines = self.store.read_logs(self.run, self.after, PAGE).await?;
            for line in &lines {
                self.send_line(line).await?;
            }
            if lines.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    async fn send_line(&mut self, line: &LogRecord) -> Result<(), Stop> {
        if line.seq <= self.after {
            return Ok(());
        }
        self.after = line.seq;
        let data = serde_json::to_string(&log_view(line)).unwrap_or_default();
        let event = Event::default()
            .event("log")
            .id(line.seq.to_string())
            .data(data);
        self.out.send(event).await.map_err(|_| Stop::Gone)
    }

    /// Reads the run's kind and its attempts' task ids.
    async fn learn_tasks(&mut self) -> Result<(), Stop> {
        let detail = self.store.get_run(self.run).await?;
        self.workflow = detail.run.kind == DefinitionKind::Workflow;
        if self.workflow {
            self.tasks = detail
                .attempts
                .iter()
                .map(|a| (a.id, a.task.clone()))
                .collect();
        }
        Ok(())
    }

    /// If the run has ended: sends the rest of its log and the `end` event, and says so.
    async fn ended(&mut self) -> Result<bool, Stop> {
        // the state first: a run ends only after its lines are stored, so the read that
        // follows a terminal state sees them all
        let detail = self.store.get_run(self.run).await?;
        if !detail.run.state.is_terminal() {
            return Ok(false);
        }
        self.catch_up().await?;
        self.send_end(&detail.run).await?;
        Ok(true)
    }

    /// Sends the rest of the stored log and the `end` event with the run as it is now.
    async fn end(&mut self) -> Result<(), Stop> {
        let detail = self.store.get_run(self.run).await?;
        self.catch_up().await?;
        self.send_end(&detail.run).await
    }

    async fn send_end(&mut self, run: &jobworks_store::RunRecord) -> Result<(), Stop> {
        let data = serde_json::to_string(&run_view(run, None)).unwrap_or_default();
        self.out
            .send(Event::default().event("end").data(data))
            .await
            .map_err(|_| Stop::Gone)
    }
}

/// The `error` event for a store failure.
fn error_event(e: &StoreError) -> Event {
    let body = StreamError {
        error: "store".into(),
        detail: e.to_string(),
        retryable: e.is_transient(),
    };
    Event::default()
        .event("error")
        .data(serde_json::to_string(&body).unwrap_or_default())
}

/// The sequence number to resume after: a reconnecting `EventSource` sends the id of the
/// last event it received as `Last-Event-ID`, which wins over the `after` of the URL it
/// reconnects to (the original one). Errors: the header is not a sequence number.
pub fn resume_after(last_event_id: Option<&str>, after: Option<i64>) -> Result<i64, String> {
    match last_event_id.map(str::trim) {
        Some(id) if !id.is_empty() => id.parse::<i64>().map_err(|_| {
            format!("Last-Event-ID `{id}` is not a log sequence number (the `id` of a `log` event)")
        }),
        _ => Ok(after.unwrap_or(0).max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_point() {
        type Case = (Option<&'static str>, Option<i64>, Result<i64, ()>);
        let table: [Case; 7] = [
            (None, None, Ok(0)),
            (None, Some(12), Ok(12)),
            (None, Some(-5), Ok(0)),
            (Some("40"), Some(12), Ok(40)),
            (Some(" 41 "), None, Ok(41)),
            (Some(""), Some(3), Ok(3)),
            (Some("abc"), Some(3), Err(())),
        ];
        for (header, after, want) in table {
            assert_eq!(
                resume_after(header, after).map_err(|_| ()),
                want,
                "{header:?} {after:?}"
            );
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod store_tests;
