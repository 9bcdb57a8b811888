//! Names that may be a job or a workflow (the two share one namespace on the server):
//! `run` and `backfill` try one kind's route and, when the server answers 404, the other's.

use crate::client::is_not_found;
use anyhow::anyhow;
use std::future::Future;

/// What a name turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A job (`/jobs/{name}/...`).
    Job,
    /// A workflow (`/workflows/{name}/...`).
    Workflow,
}

impl Kind {
    /// `job` or `workflow`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Workflow => "workflow",
        }
    }
}

/// Jobs first: the usual order.
pub const JOB_THEN_WORKFLOW: [Kind; 2] = [Kind::Job, Kind::Workflow];

/// What to do once one kind's route has answered.
#[derive(Debug)]
pub enum Next<T> {
    /// The search ends with this answer, or with an error other than "not found".
    Done(anyhow::Result<T>),
    /// The server answered 404: try the other kind.
    TryOther,
}

/// The fallback decision: a 404 means "not this kind, try the other"; an answer or any other
/// error (invalid parameters, unreachable server, bad token) ends the search.
pub fn next_step<T>(result: anyhow::Result<T>) -> Next<T> {
    match result {
        Err(error) if is_not_found(&error) => Next::TryOther,
        other => Next::Done(other),
    }
}

/// Calls `attempt` with each kind in `order` until one does not answer 404; returns the kind
/// that answered with its answer.
///
/// Errors: the first error that is not a 404; when every kind answers 404, one error that
/// names both listing commands.
pub async fn resolve<T, F, Fut>(
    name: &str,
    order: [Kind; 2],
    mut attempt: F,
) -> anyhow::Result<(Kind, T)>
where
    F: FnMut(Kind) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    for kind in order {
        match next_step(attempt(kind).await) {
            Next::Done(result) => return result.map(|answer| (kind, answer)),
            Next::TryOther => {
                tracing::debug!(name, kind = kind.noun(), "not found; trying the other kind");
            }
        }
    }
    Err(not_found(name))
}

/// The error for a name that is neither a job nor a workflow.
pub fn not_found(name: &str) -> anyhow::Error {
    anyhow!(
        "no job or workflow named `{name}`; `jobworks jobs list` / `jobworks workflow list` \
         show what exists"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ApiError;
    use reqwest::StatusCode;
    use std::cell::RefCell;

    fn status(code: StatusCode) -> anyhow::Error {
        anyhow::Error::new(ApiError::bare(code))
    }

    /// Runs `resolve` where each kind answers as given; returns the outcome and the kinds
    /// asked, in order.
    async fn resolve_with(
        order: [Kind; 2],
        answer: impl Fn(Kind) -> anyhow::Result<&'static str>,
    ) -> (Result<(Kind, &'static str), String>, Vec<Kind>) {
        let asked = RefCell::new(Vec::new());
        let outcome = resolve("etl", order, |kind| {
            asked.borrow_mut().push(kind);
            let result = answer(kind);
            async move { result }
        })
        .await
        .map_err(|error| error.to_string());
        (outcome, asked.into_inner())
    }

    #[tokio::test]
    async fn a_job_answers_without_asking_for_a_workflow() {
        let (outcome, asked) = resolve_with(JOB_THEN_WORKFLOW, |_| Ok("run 7")).await;
        assert_eq!(outcome, Ok((Kind::Job, "run 7")));
        assert_eq!(asked, [Kind::Job]);
    }

    #[tokio::test]
    async fn a_404_for_the_job_tries_the_workflow() {
        let (outcome, asked) = resolve_with(JOB_THEN_WORKFLOW, |kind| match kind {
            Kind::Job => Err(status(StatusCode::NOT_FOUND)),
            Kind::Workflow => Ok("run 8"),
        })
        .await;
        assert_eq!(outcome, Ok((Kind::Workflow, "run 8")));
        assert_eq!(asked, [Kind::Job, Kind::Workflow]);
    }

    #[tokio::test]
    async fn other_errors_end_the_search() {
        let (outcome, asked) = resolve_with(JOB_THEN_WORKFLOW, |_| {
            Err(status(StatusCode::UNPROCESSABLE_ENTITY))
        })
        .await;
        assert_eq!(
            outcome,
            Err("the server answered 422 Unprocessable Entity".to_owned())
        );
        assert_eq!(asked, [Kind::Job]);
        // the workflow's own refusal is reported as it is
        let (outcome, _) = resolve_with(JOB_THEN_WORKFLOW, |kind| match kind {
            Kind::Job => Err(status(StatusCode::NOT_FOUND)),
            Kind::Workflow => Err(anyhow!("param `env`: expected one of dev, prod")),
        })
        .await;
        assert_eq!(
            outcome,
            Err("param `env`: expected one of dev, prod".to_owned())
        );
    }

    #[tokio::test]
    async fn neither_gives_one_error_naming_both_lists() {
        let order = [Kind::Workflow, Kind::Job];
        let (outcome, asked) = resolve_with(order, |_| Err(status(StatusCode::NOT_FOUND))).await;
        assert_eq!(
            outcome,
            Err(
                "no job or workflow named `etl`; `jobworks jobs list` / `jobworks workflow \
                 list` show what exists"
                    .to_owned()
            )
        );
        assert_eq!(asked, [Kind::Workflow, Kind::Job]);
    }
}
