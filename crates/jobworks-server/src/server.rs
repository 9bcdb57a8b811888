//! Wiring: builds the actors around a store, binds the HTTP listener, and shuts everything
//! down in order.

use crate::api::{AppState, router};
use crate::config::ServerConfig;
use crate::finisher::run_finisher;
use crate::health::Health;
use crate::leader::{Elector, Leader};
use crate::leases::{LeaseReaper, run_lease_reaper};
use crate::logs::{LOG_QUEUE, run_log_writer};
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::tokens::{FIRST_ADMIN, TokenRequest, mint_token};
use crate::worker::{Datasources, LocalControl};
use jobworks_store::{Store, StoreError, TokenRecord};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Failures to start the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Binds the HTTP listener on `addr` (port 0 = any free port). Errors: `Bind` (port in use,
/// no permission).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// A server ready to start.
pub struct Server {
    config: ServerConfig,
    store: Arc<dyn Store>,
}

/// A started server: its address, and the handle to stop it.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Shared state, for in-process callers (demo loading, tests).
    pub state: AppState,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    grace: std::time::Duration,
}

impl Server {
    /// A server over `store` with `config`.
    pub fn new(config: ServerConfig, store: Arc<dyn Store>) -> Server {
        Server { config, store }
    }

    /// Creates the first admin token (`admin`) if the store has none; returns the secret,
    /// which is shown once and stored only as a hash, with its record (so a first start that
    /// fails later can delete it again with `Store::delete_token`).
    pub async fn ensure_admin_token(&self) -> Result<Option<(String, TokenRecord)>, StoreError> {
        if self.store.count_tokens().await? > 0 {
            return Ok(None);
        }
        let request = TokenRequest {
            name: FIRST_ADMIN.into(),
            owner: None,
            admin: true,
            expires_at: None,
        };
        Ok(Some(
            mint_token(self.store.as_ref(), request, self.config.clock.now()).await?,
        ))
    }

    /// Binds the listener on `config.listen`, then starts as [`Server::start_on`].
    pub async fn start(self) -> Result<RunningServer, ServerError> {
        let listener = bind(self.config.listen).await?;
        self.start_on(listener).await
    }

    /// Starts the scheduler, dispatcher, lease keeper, finisher and log writer, and serves
    /// the API on `listener` (see [`bind`]; binding first lets a caller do first-start work
    /// only once the port is known to be free).
    pub async fn start_on(
        self,
        listener: tokio::net::TcpListener,
    ) -> Result<RunningServer, ServerError> {
        let config = self.config;
        std::fs::create_dir_all(config.data_dir.join("outputs")).map_err(|source| {
            ServerError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            }
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        // over TLS when configured: handshakes start only once the API is served below
        let listener = match config.tls.clone() {
            None => Listening::Plain(listener),
            Some(tls) => Listening::Tls(crate::tls::TlsListener::new(listener, tls).map_err(
                |source| ServerError::Bind {
                    addr: config.listen,
                    source,
                },
            )?),
        };
        let store = self.store;
        let installation = store.installation_id().await.map_err(ServerError::Store)?;
        // before any attempt runs: a cgroup v2 per attempt, else the child subreaper
        let isolation = tokio::task::spawn_blocking(|| jobworks_executor::init_isolation(true))
            .await
            .unwrap_or(jobworks_executor::Isolation::ProcessGroupOnly);
        tracing::info!(?isolation, "attempt isolation");
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let health = Arc::new(Health::default());
        let metrics = Arc::new(Metrics::new());
        // the first try at the leader lease happens before any loop starts, so a single
        // server leads from its first scheduler pass, as before there were several
        let leader = Leader::new(config.worker_id.clone());
        let mut elector = Elector::new(
            store.clone(),
            leader.clone(),
            config.leader_lease,
            config.clock.clone(),
            metrics.clone(),
        );
        elector.renew().await;
        let renew_leases_now = Arc::new(Notify::new());
        let schedule_wake = Arc::new(Notify::new());
        let (log_tx, log_rx) = mpsc::channel(LOG_QUEUE);
        let (finish_tx, finish_rx) = mpsc::channel(crate::finisher::QUEUE);
        let (advance, advance_rx) = crate::workflow::AdvanceSender::channel();
        let (handoff_tx, handoff_rx) = mpsc::unbounded_channel();
        let datasources = Datasources::from_config(&config);
        // `workers = 0`: no local pool runs tasks, only agents do (the pool object still
        // holds the local bookkeeping the loops share: its running set stays empty)
        let local_pool = config.workers > 0;
        // agents feed the same writers the local pool does
        let agent_records = finish_tx.clone();
        let agent_logs = log_tx.clone();
        // the server's own worker pool, fed by the store through the local control plane
        let pool = jobworks_worker::Pool::new(
            jobworks_worker::WorkerSettings {
                worker_id: config.worker_id.clone(),
                slots: config.workers.max(1),
                lease: config.lease,
                poll_interval: config.poll_interval,
                data_dir: config.data_dir.clone(),
                kill_grace: config.kill_grace,
                max_disconnect: config.max_disconnect,
                task_env: config.task_env.clone(),
                installation: installation.clone(),
                clock: config.clock.clone(),
            },
            Arc::new(LocalControl {
                store: store.clone(),
                worker: config.worker_id.clone(),
                scope: jobworks_store::ClaimScope::Pool,
                lease_ms: config.lease.as_millis() as u64,
                clock: config.clock.clone(),
                records: finish_tx,
                logs: log_tx,
                metrics: metrics.clone(),
                datasources: datasources.clone(),
            }),
        );
        let running = pool.running();
        // every dispatch wake-up reaches the local pool and every held agent claim
        let dispatch_wake = Arc::new(Notify::new());
        let (agent_work_tx, agent_work) = watch::channel(0u64);
        let agent_work_tx = Arc::new(agent_work_tx);
        let placer_wake = Arc::new(Notify::new());
        tracker.spawn(crate::api::agent::relay_wakes(
            dispatch_wake.clone(),
            local_pool.then(|| pool.wake()),
            placer_wake.clone(),
            agent_work_tx.clone(),
            shutdown.clone(),
        ));
        // without a local pool the finisher claims nothing for this server
        let permits = if local_pool {
            pool.permits()
        } else {
            Arc::new(Semaphore::new(0))
        };

        // writers stop last: they drain what the attempts send while shutting down; log
        // streams end once both writers are done (every line and outcome is stored), or
        // shortly before the drain deadline
        let writers = CancellationToken::new();
        let followers = crate::follow::LogHub::new();
        let writing = TaskTracker::new();
        writing.spawn(run_log_writer(
            store.clone(),
            log_rx,
            writers.clone(),
            followers.clone(),
        ));
        tracker.spawn({
            let (shutdown, followers, writing) =
                (shutdown.clone(), followers.clone(), writing.clone());
            let streams_by = stream_deadline(config.shutdown_grace);
            async move {
                shutdown.cancelled().await;
                tokio::select! {
                    _ = tokio::time::sleep(streams_by) => {}
                    _ = writing.wait() => {}
                }
                followers.close();
                writing.wait().await;
            }
        });
        writing.spawn(run_finisher(
            store.clone(),
            finish_rx,
            metrics.clone(),
            dispatch_wake.clone(),
            advance.clone(),
            crate::finisher::LocalWork {
                worker: config.worker_id.clone(),
                lease_ms: config.lease.as_millis() as u64,
                permits: permits.clone(),
                handoff: handoff_tx,
                datasources: datasources.clone(),
                stopping: shutdown.clone(),
                clock: config.clock.clone(),
                followers: followers.clone(),
            },
            writers.clone(),
        ));
        writing.close();
        let attempts = TaskTracker::new();
        if local_pool {
            tracker.spawn(
                pool.clone()
                    .run(attempts.clone(), shutdown.clone(), handoff_rx),
            );
            tracker.spawn(
                pool.clone()
                    .keep_leases(renew_leases_now.clone(), shutdown.clone()),
            );
        }
        tracker.spawn(
            Scheduler {
                store: store.clone(),
                health: health.clone(),
                default_tz: config.default_timezone,
                misfire_threshold: config.misfire_threshold,
                wake: schedule_wake.clone(),
                dispatch: dispatch_wake.clone(),
                running: running.clone(),
                clock: config.clock.clone(),
                leader: leader.clone(),
            }
            .run(shutdown.clone()),
        );
        tracker.spawn(run_lease_reaper(
            LeaseReaper {
                store: store.clone(),
                lease: config.lease,
                wake: dispatch_wake.clone(),
                advance: advance.clone(),
                installation: installation.clone(),
                clock: config.clock.clone(),
                leader: leader.clone(),
            },
            shutdown.clone(),
        ));
        tracker.spawn(
            crate::workflow::Advancer {
                store: store.clone(),
                dispatch_wake: dispatch_wake.clone(),
                running: running.clone(),
                rx: advance_rx,
                clock: config.clock.clone(),
                followers: followers.clone(),
                leader: leader.clone(),
            }
            .run(shutdown.clone()),
        );
        tracker.spawn({
            let (store, keep, clock) = (store.clone(), config.retention_runs, config.clock.clone());
            // retention is a leader duty: a pass right after each gain, then every interval
            crate::leader::while_leading(leader.watch(), shutdown.clone(), move |_, stop| {
                crate::janitor::Janitor {
                    store: store.clone(),
                    keep,
                    clock: clock.clone(),
                }
                .run(stop)
            })
        });
        tracker.spawn({
            // routing is a leader duty: one placer decides for every server's agents
            let placer = crate::placer::Placer {
                store: store.clone(),
                // every enrolled agent, whatever server it talks to
                agents: Arc::new(crate::registry_agents::RegistryAgents {
                    store: store.clone(),
                }),
                clock: config.clock.clone(),
                wake: placer_wake.clone(),
                agent_work: agent_work_tx.clone(),
                advance: advance.clone(),
                followers: followers.clone(),
            };
            crate::leader::while_leading(leader.watch(), shutdown.clone(), move |_, stop| {
                placer.clone().run(stop)
            })
        });
        tracker.spawn(elector.run(shutdown.clone()));
        if let Some(events) = store.subscribe() {
            tracker.spawn(crate::wakeups::run_wakeups(
                events,
                crate::wakeups::Wakeups {
                    dispatch: dispatch_wake.clone(),
                    schedule: schedule_wake.clone(),
                    renew_leases: renew_leases_now.clone(),
                    advance: advance.clone(),
                    followers: followers.clone(),
                    leader: leader.clone(),
                },
                shutdown.clone(),
            ));
        }
        tracker.spawn({
            let mut sweep = crate::orphans::HostSweep::new(
                store.clone(),
                installation.clone(),
                running.clone(),
                config.clock.clone(),
            );
            let (every, stop) = (config.lease, shutdown.clone());
            // this host's processes of attempts no live lease holds: at start, then every lease
            async move {
                loop {
                    match sweep.sweep().await {
                        Ok(killed) if !killed.is_empty() => {
                            tracing::warn!(pids = ?killed, "killed orphaned attempt processes on this host");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "sweeping orphaned processes failed"),
                    }
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            }
        });
        let grace = config.shutdown_grace;
        let state = AppState {
            followers,
            store,
            config: Arc::new(config),
            health,
            metrics,
            running,
            schedule_wake,
            dispatch_wake,
            advance,
            leader,
            agents: crate::api::agent::AgentPlane {
                records: agent_records,
                logs: agent_logs,
                datasources,
                work: agent_work,
                stopping: shutdown.clone(),
                fleet: Default::default(),
                untargeted: !local_pool,
                placer_wake,
            },
        };
        let app = router(state.clone());
        let http_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let served = match listener {
                Listening::Plain(listener) => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
                        .await
                }
                Listening::Tls(listener) => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
                        .await
                }
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
        // when the control loops stop, wait for running attempts, then let the writers drain
        let closer = shutdown.clone();
        tracker.spawn(async move {
            closer.cancelled().await;
            attempts.close();
            attempts.wait().await;
            writers.cancel();
        });
        tracker.close();
        Ok(RunningServer {
            addr,
            state,
            shutdown,
            tracker,
            grace,
        })
    }
}

/// The API's listener: plain TCP, or TLS over it ([`ServerConfig::tls`]).
enum Listening {
    Plain(tokio::net::TcpListener),
    Tls(crate::tls::TlsListener),
}

/// When log streams end after a stop request: one second before the drain deadline `grace`,
/// or a quarter of it before when it is shorter than 4 s, so clients get their `end` event
/// before the server goes.
fn stream_deadline(grace: std::time::Duration) -> std::time::Duration {
    grace - (grace / 4).min(std::time::Duration::from_secs(1))
}

impl RunningServer {
    /// Stops accepting work, cancels running attempts (SIGTERM, then SIGKILL after the
    /// kill grace), records their outcomes, flushes logs and ends log streams, then returns;
    /// see [`RunningServer::wait`] for the deadline.
    pub async fn shutdown(self) -> bool {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Wakes the dispatcher now (for callers that enqueued runs through the store directly).
    pub fn wake_dispatcher(&self) {
        self.state.dispatch_wake.notify_one();
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has stopped (after `shutdown_token().cancel()`), at most
    /// `ServerConfig::shutdown_grace` after the stop request. Returns false when the deadline
    /// passed first: the caller should exit anyway (what still runs is abandoned; attempts
    /// not recorded are found `lost` by the next start).
    pub async fn wait(&self) -> bool {
        let deadline = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(self.grace).await;
        };
        tokio::select! {
            _ = self.tracker.wait() => true,
            _ = deadline => {
                tracing::error!(grace_ms = self.grace.as_millis() as u64, "the shutdown grace passed before everything stopped; exiting");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Handlers and the scheduler's plans read the server's clock, not the system's.
    #[tokio::test]
    async fn the_server_runs_on_its_own_clock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = jobworks_store_sqlite::SqliteStore::open(
            jobworks_store_sqlite::SqliteStoreOptions::new(dir.path().join("jobworks.db")),
        )
        .await
        .expect("open");
        let store: Arc<dyn Store> = Arc::new(store);
        let at: chrono::DateTime<chrono::Utc> = "2030-06-01T12:00:00Z".parse().expect("instant");
        let manual = crate::clock::ManualClock::new(at);
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.clock = manual.clock();
        let server = Server::new(config, store.clone());
        let (token, record) = server
            .ensure_admin_token()
            .await
            .expect("token")
            .expect("new");
        let stored = store
            .find_token(&crate::tokens::hash_token(&token))
            .await
            .expect("find")
            .expect("stored");
        assert_eq!(record.created_at, at);
        assert_eq!(stored.created_at, at);
        let running = server.start().await.expect("start");
        let file = jobworks_protocol::SourceFile {
            name: "nightly.toml".into(),
            content: "[[job]]\nname = \"nightly\"\nschedule = \"0 0 * * *\"\n[job.task]\ntype = \"shell\"\nscript = \"true\"\n".into(),
        };
        crate::api::apply_files(&running.state, &[file], false)
            .await
            .expect("apply");
        let job = store.get_job("nightly").await.expect("job");
        assert_eq!(job.created_at, at);
        assert_eq!(
            job.next_fire_at,
            Some("2030-06-02T00:00:00Z".parse().expect("instant"))
        );
        assert!(running.shutdown().await, "stopped within the grace");
    }

    #[test]
    fn streams_end_before_the_drain_deadline() {
        let ms = Duration::from_millis;
        for (grace, streams) in [
            (ms(30_000), ms(29_000)),
            (ms(4_000), ms(3_000)),
            (ms(2_000), ms(1_500)),
            (ms(0), ms(0)),
        ] {
            assert_eq!(stream_deadline(grace), streams, "{grace:?}");
        }
    }
}
