-- The agent registry (issue 9, "Agents"): enrollment tokens and enrolled agents. Secrets are
-- never stored, only SHA-256 hashes (hex). Times are integer microseconds, as everywhere.

-- An enrollment token: `jwe_<id>.<secret>`; `uses_left` NULL = unlimited.
CREATE TABLE enrollment_tokens (
    id             TEXT    PRIMARY KEY,
    secret_sha256  TEXT    NOT NULL,
    labels_json    TEXT    NOT NULL DEFAULT '{}',
    uses_left      INTEGER,
    expires_at_us  INTEGER,
    created_at_us  INTEGER NOT NULL,
    created_by     TEXT    NOT NULL DEFAULT '',
    revoked_at_us  INTEGER
);

-- An agent: its name is unique over every row (revoked ones too, until an admin deletes the
-- row); `admin_state` is what an operator set (active, draining, revoked); the last
-- heartbeat's report is kept in columns (running attempts as a JSON array of ids).
CREATE TABLE agents (
    id                     INTEGER PRIMARY KEY,
    name                   TEXT    NOT NULL UNIQUE,
    labels_json            TEXT    NOT NULL DEFAULT '{}',
    admin_state            TEXT    NOT NULL DEFAULT 'active',
    credential_sha256      TEXT    NOT NULL UNIQUE,
    enrolled_with          TEXT    NOT NULL DEFAULT '',
    enrolled_at_us         INTEGER NOT NULL,
    state_changed_at_us    INTEGER NOT NULL,
    last_heartbeat_at_us   INTEGER,
    heartbeat_interval_ms  INTEGER NOT NULL,
    version                TEXT,
    slots_total            INTEGER,
    slots_used             INTEGER,
    cpu_count              INTEGER,
    load_1m                REAL,
    load_5m                REAL,
    load_15m               REAL,
    cpu_percent            REAL,
    free_memory_bytes      INTEGER,
    free_disk_bytes        INTEGER,
    running_json           TEXT
);
