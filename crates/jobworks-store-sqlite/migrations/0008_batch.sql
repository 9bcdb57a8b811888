-- Batch tasks: the latest progress a task instance's attempts reported, and when its
-- checkpoint was taken. The checkpoint itself lives in the task instance's environment
-- (`env_json`, key `JOBWORKS_CHECKPOINT`), so the claim hands it to the next attempt without
-- another read, and clearing a task (which empties `env_json`) drops it with the rest.
ALTER TABLE task_instances ADD COLUMN progress_done REAL;
ALTER TABLE task_instances ADD COLUMN progress_total REAL;
ALTER TABLE task_instances ADD COLUMN progress_unit TEXT;
ALTER TABLE task_instances ADD COLUMN progress_at_us INTEGER;
ALTER TABLE task_instances ADD COLUMN checkpoint_at_us INTEGER;
-- Pause: set on a running task instance when its run is paused; its attempt's reporter sees
-- it and asks the task to checkpoint and stop.
ALTER TABLE task_instances ADD COLUMN pause_requested_at_us INTEGER;
