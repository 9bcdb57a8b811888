-- Routing (issue 9): where a task instance with `run_on` runs on the fleet; the SQLite
-- migration 0010 with the same tables and columns (see its comments).
ALTER TABLE task_instances ADD COLUMN targeted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_instances ADD COLUMN placed_agent TEXT;
ALTER TABLE task_instances ADD COLUMN placed_at_us BIGINT;
ALTER TABLE task_instances ADD COLUMN wait_reason TEXT;
CREATE INDEX task_instances_to_place ON task_instances(priority DESC, id)
    WHERE state = 'queued' AND targeted = 1;

CREATE TABLE routing_memory (
    job_id          BIGINT  NOT NULL REFERENCES jobs(id),
    task_key        TEXT    NOT NULL,
    memory_json     TEXT    NOT NULL,
    updated_at_us   BIGINT  NOT NULL,
    PRIMARY KEY (job_id, task_key)
);
