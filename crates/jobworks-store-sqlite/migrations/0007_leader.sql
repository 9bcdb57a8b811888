-- The leader lease (issue 8): one row, taken over with a new epoch when it expires.
CREATE TABLE leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    since_us INTEGER NOT NULL,
    expires_at_us INTEGER NOT NULL
);
