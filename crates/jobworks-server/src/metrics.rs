//! Prometheus metrics: a recorder owned by the server (not installed globally, so several
//! servers can live in one test process), rendered by `/metrics`.

use metrics::{Counter, Histogram, Key, Label, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Bucket bounds in seconds for run durations and schedule lag.
const BUCKETS_S: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0, 3600.0,
];

static META: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh recorder with histogram buckets for durations and lag.
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS_S)
            .expect("bucket list is non-empty")
            .build_recorder();
        let handle = recorder.handle();
        recorder.describe_histogram(
            "jobworks_run_duration_seconds".into(),
            Some(Unit::Seconds),
            "Wall time of finished attempts, by job and outcome".into(),
        );
        recorder.describe_histogram(
            "jobworks_schedule_lag_seconds".into(),
            Some(Unit::Seconds),
            "Actual process start minus scheduled tick time".into(),
        );
        recorder.describe_counter(
            "jobworks_attempts_finished_total".into(),
            None,
            "Attempts finished, by outcome".into(),
        );
        recorder.describe_counter(
            "jobworks_outcomes_set_aside_total".into(),
            None,
            "Attempt outcomes the store refused for good (not transient) and the finisher set aside".into(),
        );
        recorder.describe_counter(
            "jobworks_leader_changes_total".into(),
            None,
            "Times this server gained or lost the leader lease".into(),
        );
        recorder.describe_histogram(
            "jobworks_claim_seconds".into(),
            Some(Unit::Seconds),
            "Latency of one claim transaction (the store call), claims that found work or not"
                .into(),
        );
        recorder.describe_counter(
            "jobworks_agent_heartbeats_total".into(),
            None,
            "Heartbeats received from agents".into(),
        );
        // present from the start, so a scrape shows 0 rather than nothing
        for name in [
            "jobworks_leader_changes_total",
            "jobworks_agent_heartbeats_total",
        ] {
            recorder
                .register_counter(&Key::from_static_name(name), &META)
                .absolute(0);
        }
        Metrics { recorder, handle }
    }

    /// Counts a gain or loss of the leader lease by this server.
    pub fn leader_changed(&self) {
        self.counter("jobworks_leader_changes_total", Vec::new())
            .increment(1);
    }

    /// Counts a heartbeat received from an agent (`jobworks_agent_heartbeats_total`).
    pub fn agent_heartbeat(&self) {
        self.counter("jobworks_agent_heartbeats_total", Vec::new())
            .increment(1);
    }

    /// Records the latency of one claim transaction, seconds.
    pub fn claim_latency(&self, seconds: f64) {
        self.histogram("jobworks_claim_seconds", Vec::new())
            .record(seconds.max(0.0));
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
    }

    /// Records a finished attempt: its outcome and duration in seconds.
    pub fn attempt_finished(&self, job: &str, outcome: &str, seconds: f64) {
        self.counter(
            "jobworks_attempts_finished_total",
            vec![Label::new("outcome", outcome.to_string())],
        )
        .increment(1);
        self.histogram(
            "jobworks_run_duration_seconds",
            vec![
                Label::new("job", job.to_string()),
                Label::new("outcome", outcome.to_string()),
            ],
        )
        .record(seconds);
    }

    /// Counts an outcome the finisher set aside because the store refused it for good.
    pub fn outcome_set_aside(&self) {
        self.counter("jobworks_outcomes_set_aside_total", Vec::new())
            .increment(1);
    }

    /// Records schedule lag (process start minus tick time), seconds.
    /// Observes how late a store event (PostgreSQL `NOTIFY`) arrived, s, into
    /// `jobworks_notify_lag_seconds`.
    pub fn notify_lag(&self, seconds: f64) {
        self.histogram("jobworks_notify_lag_seconds", Vec::new())
            .record(seconds.max(0.0));
    }

    pub fn schedule_lag(&self, seconds: f64) {
        self.histogram("jobworks_schedule_lag_seconds", Vec::new())
            .record(seconds.max(0.0));
    }

    /// Renders the text exposition format of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
