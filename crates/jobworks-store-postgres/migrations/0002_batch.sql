-- Batch tasks: the latest progress a task instance's attempts reported, and when its
-- checkpoint was taken. The checkpoint itself lives in the task instance's environment
-- (`env_json`, key `JOBWORKS_CHECKPOINT`), as in the SQLite backend, so the claim hands it to
-- the next attempt and clearing a task drops it.
ALTER TABLE task_instances ADD COLUMN progress_done DOUBLE PRECISION;
ALTER TABLE task_instances ADD COLUMN progress_total DOUBLE PRECISION;
ALTER TABLE task_instances ADD COLUMN progress_unit TEXT;
ALTER TABLE task_instances ADD COLUMN progress_at_us BIGINT;
ALTER TABLE task_instances ADD COLUMN checkpoint_at_us BIGINT;
