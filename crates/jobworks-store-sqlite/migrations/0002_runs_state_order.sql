-- Listing runs by state newest first, and the claim query, must not sort every queued run:
-- an index on (state, id) serves both ordered scans, replacing the plain state index.
DROP INDEX runs_state;
CREATE INDEX runs_state_id ON runs(state, id);
