-- Batch tasks: the latest progress a task instance's attempts reported, when its checkpoint
-- was taken, and a pause request for a running one. The checkpoint itself lives in the task
-- instance's environment (`env_json`, key `JOBWORKS_CHECKPOINT`), so the claim hands it to the
-- next attempt without another read, and clearing a task (which empties `env_json`) drops it.
ALTER TABLE task_instances ADD COLUMN progress_done DOUBLE PRECISION;
ALTER TABLE task_instances ADD COLUMN progress_total DOUBLE PRECISION;
ALTER TABLE task_instances ADD COLUMN progress_unit TEXT;
ALTER TABLE task_instances ADD COLUMN progress_at_us BIGINT;
ALTER TABLE task_instances ADD COLUMN checkpoint_at_us BIGINT;
ALTER TABLE task_instances ADD COLUMN pause_requested_at_us BIGINT;
