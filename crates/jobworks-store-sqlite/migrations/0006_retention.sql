-- Retention (issue 7, point 17): the janitor finds finished top-level runs by id and deletes
-- their trees; these indexes keep its lookups and the foreign-key checks of the deletes off
-- full scans.
CREATE INDEX runs_top_ended ON runs(id, ended_at_us) WHERE parent_run_id IS NULL;
CREATE INDEX attempts_task_instance ON attempts(task_instance_id);
