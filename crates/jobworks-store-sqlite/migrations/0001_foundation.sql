-- Jobworks foundation schema (SQLite). Times are INTEGER microseconds since the Unix epoch, UTC,
-- so that ordering and comparisons are exact and cheap.

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    version             INTEGER NOT NULL,
    paused              INTEGER NOT NULL DEFAULT 0,
    deleted_at_us       INTEGER,
    next_fire_at_us     INTEGER,
    schedule_anchor_us  INTEGER NOT NULL,
    created_at_us       INTEGER NOT NULL,
    updated_at_us       INTEGER NOT NULL
);
CREATE INDEX jobs_next_fire ON jobs(next_fire_at_us)
    WHERE next_fire_at_us IS NOT NULL AND paused = 0 AND deleted_at_us IS NULL;

CREATE TABLE job_versions (
    job_id        INTEGER NOT NULL REFERENCES jobs(id),
    version       INTEGER NOT NULL,
    spec_json     TEXT    NOT NULL,
    concurrency   TEXT    NOT NULL,
    priority      INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (job_id, version)
);

CREATE TABLE runs (
    id                      INTEGER PRIMARY KEY,
    job_id                  INTEGER NOT NULL REFERENCES jobs(id),
    job_version             INTEGER NOT NULL,
    state                   TEXT    NOT NULL,
    trigger_kind            TEXT    NOT NULL,
    triggered_by            TEXT    NOT NULL,
    scheduled_at_us         INTEGER,
    queued_at_us            INTEGER NOT NULL,
    started_at_us           INTEGER,
    ended_at_us             INTEGER,
    not_before_us           INTEGER,
    params_json             TEXT    NOT NULL,
    priority                INTEGER NOT NULL,
    serial                  INTEGER NOT NULL,
    attempts                INTEGER NOT NULL DEFAULT 0,
    reason                  TEXT,
    cancel_requested_at_us  INTEGER,
    FOREIGN KEY (job_id, job_version) REFERENCES job_versions(job_id, version),
    -- a (schedule, fire time) pair fires at most once, ever
    UNIQUE (job_id, scheduled_at_us)
);
CREATE INDEX runs_ready ON runs(priority DESC, id) WHERE state = 'queued';
CREATE INDEX runs_job_state ON runs(job_id, state);
CREATE INDEX runs_state ON runs(state);
CREATE INDEX runs_queued_at ON runs(queued_at_us);

CREATE TABLE task_instances (
    id        INTEGER PRIMARY KEY,
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    task_key  TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    UNIQUE (run_id, task_key)
);

CREATE TABLE attempts (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER NOT NULL REFERENCES runs(id),
    task_instance_id  INTEGER NOT NULL REFERENCES task_instances(id),
    attempt_no        INTEGER NOT NULL,
    state             TEXT    NOT NULL,
    worker            TEXT    NOT NULL,
    pid               INTEGER,
    claimed_at_us     INTEGER NOT NULL,
    started_at_us     INTEGER,
    ended_at_us       INTEGER,
    lease_expires_at_us INTEGER,
    exit_code         INTEGER,
    signal            INTEGER,
    user_cpu_ms       INTEGER,
    system_cpu_ms     INTEGER,
    max_rss_bytes     INTEGER,
    bytes_dropped     INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    outputs_json      TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (task_instance_id, attempt_no)
);
CREATE INDEX attempts_run ON attempts(run_id);
CREATE INDEX attempts_lease ON attempts(lease_expires_at_us) WHERE state = 'running';

CREATE TABLE run_events (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    attempt_id  INTEGER,
    at_us       INTEGER NOT NULL,
    from_state  TEXT,
    to_state    TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX run_events_run ON run_events(run_id);

CREATE TABLE log_lines (
    seq         INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    attempt_id  INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    stream      TEXT    NOT NULL,
    text        TEXT    NOT NULL
);
CREATE INDEX log_lines_run ON log_lines(run_id, seq);

CREATE TABLE api_tokens (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    sha256_hex     TEXT    NOT NULL UNIQUE,
    created_at_us  INTEGER NOT NULL
);
