-- An agent that stopped cleanly says so (`POST /api/v1/agent/bye`): it is offline from then
-- on, not after missed heartbeats, until its next heartbeat clears the mark.
ALTER TABLE agents ADD COLUMN stopped_at_us INTEGER;
