//! The agent registry's plain decisions: label and name rules, enrollment-token states, the
//! heartbeat interval, and the wire views of registry records. The store keeps the rows
//! (`Store::enroll_agent` and friends); the handlers are in `api::agents` (management) and
//! `api::agent_auth` (enrollment, heartbeats, authentication of agent calls).

use chrono::{DateTime, Utc};
use jobworks_domain::AttemptId;
use jobworks_protocol::{AgentReportView, AgentView, EnrollmentTokenView};
use jobworks_store::{AgentRecord, AgentReport, EnrollmentTokenRecord};
use std::collections::BTreeMap;
use std::time::Duration;

/// Default heartbeat interval asked of agents: 15 s (the reference design's interval,
/// REFERENCE §1.8 "Heartbeat"), with ±20 % jitter applied by the agent.
pub const DEFAULT_AGENT_HEARTBEAT: Duration = Duration::from_secs(15);

/// Most heartbeats per second the server asks of its whole fleet: 50, Nomad's
/// `max_heartbeats_per_second` (REFERENCE §1.4).
pub const MAX_HEARTBEATS_PER_SECOND: u64 = 50;

/// How long the fleet size used by [`scaled_interval`] is reused before it is counted again.
pub const FLEET_COUNT_TTL: Duration = Duration::from_secs(10);

/// The heartbeat interval asked of each of `agents` agents: `base`, or longer when the fleet
/// would otherwise send more than 50 heartbeats a second — `max(base, agents / 50 s)`, Nomad's
/// `RateScaledInterval` (1,000 agents heartbeat every 20 s; 100 keep a 15 s base).
pub fn scaled_interval(base: Duration, agents: usize) -> Duration {
    let agents = u64::try_from(agents).unwrap_or(u64::MAX);
    base.max(Duration::from_millis(
        agents.saturating_mul(1_000) / MAX_HEARTBEATS_PER_SECOND,
    ))
}

/// The number of enrolled agents, counted at most once per [`FLEET_COUNT_TTL`] (heartbeats
/// ask for it; counting on each would cost a listing per heartbeat).
#[derive(Debug, Default)]
pub struct FleetSize {
    counted: std::sync::Mutex<Option<(std::time::Instant, usize)>>,
}

impl FleetSize {
    /// The count, from `count` when the cached one is older than the TTL (or absent). A
    /// failing count keeps the cached value (0 if none): the interval is advice.
    pub async fn get<F, Fut>(&self, count: F) -> usize
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<usize>>,
    {
        let cached = self.counted.lock().ok().and_then(|c| *c);
        match cached {
            Some((at, n)) if at.elapsed() < FLEET_COUNT_TTL => n,
            _ => {
                let fresh = count().await;
                let n = fresh.or(cached.map(|(_, n)| n)).unwrap_or(0);
                if let (Some(n), Ok(mut slot)) = (fresh, self.counted.lock()) {
                    *slot = Some((std::time::Instant::now(), n));
                }
                n
            }
        }
    }
}

/// Longest label name or value, characters.
pub const MAX_LABEL: usize = 63;

/// Most labels on one enrollment token.
pub const MAX_LABELS: usize = 32;

/// Longest agent name, characters (the name part of a worker id).
pub const MAX_AGENT_NAME: usize = 63;

/// Checks an enrollment token's labels: at most 32, names and values 1–63 characters of
/// `A-Z a-z 0-9 . _ -`. Errors: the field path (`labels.site`) and what is wrong.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.len() > MAX_LABELS {
        return Err(format!(
            "labels: {} given, at most {MAX_LABELS} are allowed",
            labels.len()
        ));
    }
    for (key, value) in labels {
        for (what, text) in [("name", key), ("value", value)] {
            if text.is_empty() || text.chars().count() > MAX_LABEL {
                return Err(format!(
                    "labels.{key}: the label {what} must have 1 to {MAX_LABEL} characters"
                ));
            }
            if let Some(bad) = text
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            {
                return Err(format!(
                    "labels.{key}: the label {what} may hold only A-Z a-z 0-9 . _ - (found `{bad}`)"
                ));
            }
        }
    }
    Ok(())
}

/// Checks the name an agent enrolls with: a lower-case host name (`jobworks_pki`'s rule, so
/// it can be a certificate's DNS name) of at most 63 characters (it is the first part of the
/// agent's worker ids). Errors: what is wrong, with the fix.
pub fn check_enroll_name(name: &str) -> Result<(), String> {
    jobworks_pki::check_agent_name(name)
        .map_err(|e| format!("{e}; start the agent with --name"))?;
    if name.len() > MAX_AGENT_NAME {
        return Err(format!(
            "agent name `{name}` has {} characters; at most {MAX_AGENT_NAME} are allowed",
            name.len()
        ));
    }
    Ok(())
}

/// An enrollment token's state at `now`: `revoked`, `used_up`, `expired` or `active`.
pub fn enrollment_token_state(token: &EnrollmentTokenRecord, now: DateTime<Utc>) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.uses_left == Some(0) {
        "used_up"
    } else if token.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The wire view of an enrollment token at `now`.
pub fn enrollment_token_view(
    token: &EnrollmentTokenRecord,
    now: DateTime<Utc>,
) -> EnrollmentTokenView {
    EnrollmentTokenView {
        id: token.id.clone(),
        labels: token.labels.clone(),
        uses_left: token.uses_left,
        expires_at: token.expires_at,
        created_at: token.created_at,
        created_by: token.created_by.clone(),
        revoked_at: token.revoked_at,
        state: enrollment_token_state(token, now).to_owned(),
    }
}

/// The wire view of an agent at `now` (its effective state judged then).
pub fn agent_view(agent: &AgentRecord, now: DateTime<Utc>) -> AgentView {
    AgentView {
        name: agent.name.clone(),
        state: agent.state(now).as_str().to_owned(),
        admin_state: agent.admin_state.as_str().to_owned(),
        labels: agent.labels.clone(),
        enrolled_at: agent.enrolled_at,
        enrolled_with: agent.enrolled_with.clone(),
        last_heartbeat_at: agent.last_heartbeat_at,
        heartbeat_interval_ms: agent.heartbeat_interval_ms,
        report: agent.report.as_ref().map(report_view),
    }
}

/// A stored report as sent on the wire.
pub fn report_view(report: &AgentReport) -> AgentReportView {
    AgentReportView {
        version: report.version.clone(),
        slots_total: report.slots_total,
        slots_used: report.slots_used,
        cpu_count: report.cpu_count,
        load: report.load,
        cpu_percent: report.cpu_percent,
        free_memory_bytes: report.free_memory_bytes,
        free_disk_bytes: report.free_disk_bytes,
        running: report.running.iter().map(|a| a.0).collect(),
    }
}

/// A report from the wire as stored: the version cut to 64 characters, CPU percent kept only
/// when finite and within 0–100, load averages only when finite and not negative, at most
/// 10 000 running attempt ids (the rest dropped).
pub fn report_from_wire(view: AgentReportView) -> AgentReport {
    AgentReport {
        version: view.version.chars().take(64).collect(),
        slots_total: view.slots_total,
        slots_used: view.slots_used,
        cpu_count: view.cpu_count,
        load: view
            .load
            .filter(|l| l.iter().all(|v| v.is_finite() && *v >= 0.0)),
        cpu_percent: view
            .cpu_percent
            .filter(|c| c.is_finite() && (0.0..=100.0).contains(c)),
        free_memory_bytes: view.free_memory_bytes,
        free_disk_bytes: view.free_disk_bytes,
        running: view
            .running
            .into_iter()
            .take(10_000)
            .map(AttemptId)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_interval_grows_with_the_fleet_at_50_heartbeats_a_second() {
        let s = Duration::from_secs;
        for (base, agents, want) in [
            (s(15), 0, s(15)),
            (s(15), 100, s(15)),
            (s(15), 750, s(15)),
            (s(15), 1_000, s(20)),
            (s(15), 10_000, s(200)),
            (Duration::from_millis(300), 20, Duration::from_millis(400)),
            (Duration::from_millis(300), 1, Duration::from_millis(300)),
        ] {
            assert_eq!(scaled_interval(base, agents), want, "{base:?} {agents}");
        }
    }

    #[tokio::test]
    async fn the_fleet_is_counted_once_per_ttl() {
        let fleet = FleetSize::default();
        assert_eq!(fleet.get(|| async { None }).await, 0, "nothing counted yet");
        assert_eq!(fleet.get(|| async { Some(7) }).await, 7);
        // cached: the counter is not asked again within the TTL
        assert_eq!(fleet.get(|| async { Some(9) }).await, 7);
    }

    #[test]
    fn labels_are_checked_with_their_field_path() {
        let long = "x".repeat(64);
        for (given, refused) in [
            (labels(&[]), None),
            (labels(&[("site", "bj"), ("role", "db-1.a_b")]), None),
            (
                labels(&[("site", "")]),
                Some("labels.site: the label value must have 1 to 63"),
            ),
            (
                labels(&[("", "bj")]),
                Some("labels.: the label name must have 1 to 63"),
            ),
            (
                labels(&[("site", &long)]),
                Some("labels.site: the label value must have"),
            ),
            (
                labels(&[("site", "b j")]),
                Some("labels.site: the label value may hold only"),
            ),
            (
                labels(&[("si/te", "bj")]),
                Some("labels.si/te: the label name may hold only"),
            ),
        ] {
            match (check_labels(&given), refused) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => assert!(e.starts_with(want), "{e}"),
                (got, want) => panic!("{given:?}: {got:?} vs {want:?}"),
            }
        }
        let many: BTreeMap<String, String> =
            (0..33).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(
            check_labels(&many)
                .expect_err("too many")
                .contains("at most 32")
        );
    }

    #[test]
    fn enroll_names_are_lower_case_host_names_of_63_characters_at_most() {
        for (name, ok) in [
            ("edge-1", true),
            ("db.bj", true),
            (&*"a".repeat(63), true),
            (&*format!("{}.{}", "a".repeat(40), "b".repeat(30)), false),
            ("Edge-1", false),
            ("edge_1", false),
            ("", false),
            ("10.0.0.1", false),
        ] {
            let got = check_enroll_name(name);
            assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
            if let Err(e) = got {
                assert!(!e.is_empty());
            }
        }
    }

    #[test]
    fn token_states_in_order_of_precedence() {
        let at = |s| {
            Utc.timestamp_opt(1_700_000_000 + s, 0)
                .single()
                .expect("valid")
        };
        let token = |uses_left, expires: Option<i64>, revoked: bool| EnrollmentTokenRecord {
            id: "0123456789abcdef".into(),
            labels: BTreeMap::new(),
            uses_left,
            expires_at: expires.map(at),
            created_at: at(0),
            created_by: "token:admin".into(),
            revoked_at: revoked.then(|| at(1)),
        };
        for (uses, expires, revoked, state) in [
            (None, None, false, "active"),
            (Some(2), Some(20), false, "active"),
            (Some(0), Some(5), false, "used_up"),
            (Some(1), Some(5), false, "expired"),
            (Some(0), Some(5), true, "revoked"),
        ] {
            assert_eq!(
                enrollment_token_state(&token(uses, expires, revoked), at(10)),
                state
            );
        }
    }

    #[test]
    fn wire_reports_are_cleaned_before_they_are_stored() {
        let report = report_from_wire(AgentReportView {
            version: "v".repeat(100),
            slots_total: 4,
            slots_used: 1,
            cpu_count: Some(8),
            load: Some([0.5, f64::NAN, 1.0]),
            cpu_percent: Some(250.0),
            free_memory_bytes: Some(7),
            free_disk_bytes: None,
            running: vec![1, 2],
        });
        assert_eq!(report.version.len(), 64);
        assert_eq!((report.load, report.cpu_percent), (None, None));
        assert_eq!(report.running, vec![AttemptId(1), AttemptId(2)]);
        let back = report_view(&report);
        assert_eq!((back.slots_total, back.free_memory_bytes), (4, Some(7)));
        let fine = report_from_wire(AgentReportView {
            load: Some([0.5, 0.25, 0.0]),
            cpu_percent: Some(12.5),
            ..AgentReportView::default()
        });
        assert_eq!(
            (fine.load, fine.cpu_percent),
            (Some([0.5, 0.25, 0.0]), Some(12.5))
        );
    }
}
