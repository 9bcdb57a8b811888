-- Workflows. One run model serves jobs and workflows: a run has task instances, a task
-- instance has attempts, and the queue holds task instances (a job run has one, `main`).
--
-- Definitions: jobs and workflows share the `jobs` table (one namespace of names, one
-- schedule column, one version table); `kind` tells them apart and `job_versions.spec_json`
-- holds a JobSpec or a WorkflowSpec.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'job';

-- Runs: what they execute, who started them (a workflow task calling a job or a
-- sub-workflow), the whole-run deadline (workflow timeout), and a backfill's parallelism.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'job';
ALTER TABLE runs ADD COLUMN parent_run_id INTEGER REFERENCES runs(id);
ALTER TABLE runs ADD COLUMN parent_task_key TEXT;
ALTER TABLE runs ADD COLUMN deadline_us INTEGER;
ALTER TABLE runs ADD COLUMN max_active INTEGER;
CREATE INDEX runs_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_workflow_active ON runs(job_id, state) WHERE kind = 'workflow';

-- Task instances carry the queue: priority, serial (the job's policy is `queue`),
-- not-before (retry backoff, scheduled tick), attempt counter, and per task: the spec to run
-- (NULL = the run's job version), its input variables, outputs, exit code, cancel request,
-- the child run of a call, an approval's deadline and decision.
ALTER TABLE task_instances ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_instances ADD COLUMN serial INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_instances ADD COLUMN not_before_us INTEGER;
ALTER TABLE task_instances ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- attempts made before the latest clear/rerun: retry policies count from here
ALTER TABLE task_instances ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_instances ADD COLUMN queued_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN started_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN ended_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN reason TEXT;
ALTER TABLE task_instances ADD COLUMN spec_json TEXT;
ALTER TABLE task_instances ADD COLUMN env_json TEXT;
ALTER TABLE task_instances ADD COLUMN exit_code INTEGER;
ALTER TABLE task_instances ADD COLUMN outputs_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE task_instances ADD COLUMN cancel_requested_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN child_run_id INTEGER REFERENCES runs(id);
ALTER TABLE task_instances ADD COLUMN deadline_us INTEGER;
ALTER TABLE task_instances ADD COLUMN decided_by TEXT;

-- existing job runs: their single task instance takes over the queue fields
UPDATE task_instances SET
    priority = (SELECT r.priority FROM runs r WHERE r.id = task_instances.run_id),
    serial = (SELECT r.serial FROM runs r WHERE r.id = task_instances.run_id),
    not_before_us = (SELECT r.not_before_us FROM runs r WHERE r.id = task_instances.run_id),
    attempts = (SELECT r.attempts FROM runs r WHERE r.id = task_instances.run_id),
    queued_at_us = (SELECT r.queued_at_us FROM runs r WHERE r.id = task_instances.run_id),
    started_at_us = (SELECT r.started_at_us FROM runs r WHERE r.id = task_instances.run_id),
    ended_at_us = (SELECT r.ended_at_us FROM runs r WHERE r.id = task_instances.run_id),
    reason = (SELECT r.reason FROM runs r WHERE r.id = task_instances.run_id),
    cancel_requested_at_us =
        (SELECT r.cancel_requested_at_us FROM runs r WHERE r.id = task_instances.run_id);

DROP INDEX runs_ready;
CREATE INDEX task_instances_ready ON task_instances(priority DESC, id) WHERE state = 'queued';
CREATE INDEX task_instances_waiting ON task_instances(deadline_us)
    WHERE state = 'waiting_approval';
CREATE INDEX task_instances_child ON task_instances(child_run_id)
    WHERE child_run_id IS NOT NULL;

-- transitions of one task of a workflow run name the task; NULL = the run itself
ALTER TABLE run_events ADD COLUMN task_key TEXT;
