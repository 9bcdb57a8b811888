-- Routing (issue 9): where a task instance with `run_on` runs on the fleet.
-- `targeted` is set when the task instance is queued from a spec with `run_on`, so a claim
-- filters on a plain column: the server's own pool takes only untargeted task instances, an
-- agent those placed on its name. The leader's placer writes `placed_agent` and
-- `placed_at_us` (guarded: only while queued and the placement unchanged), or the reason it
-- waits (`wait_reason`, shown by `runs show` while it is queued).
ALTER TABLE task_instances ADD COLUMN targeted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_instances ADD COLUMN placed_agent TEXT;
ALTER TABLE task_instances ADD COLUMN placed_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN wait_reason TEXT;
CREATE INDEX task_instances_to_place ON task_instances(priority DESC, id)
    WHERE state = 'queued' AND targeted = 1;

-- What a strategy remembers between placements (round-robin counter, use counts, last uses:
-- a `RoutingMemory` as JSON), per definition and task key (`main` for a job).
CREATE TABLE routing_memory (
    job_id          INTEGER NOT NULL REFERENCES jobs(id),
    task_key        TEXT    NOT NULL,
    memory_json     TEXT    NOT NULL,
    updated_at_us   INTEGER NOT NULL,
    PRIMARY KEY (job_id, task_key)
);
