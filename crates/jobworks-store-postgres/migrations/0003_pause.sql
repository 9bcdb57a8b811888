-- Pause: set on a running task instance when its run is paused; its attempt's reporter sees
-- it and asks the task to checkpoint and stop.
ALTER TABLE task_instances ADD COLUMN pause_requested_at_us BIGINT;
