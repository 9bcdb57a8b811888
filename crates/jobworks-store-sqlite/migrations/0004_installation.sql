-- A random id made once per database: processes are tagged `<installation>-<attempt>`, so a
-- server never mistakes another database's attempt (same attempt id, other store) for an
-- orphan of its own.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('installation_id', lower(hex(randomblob(8))));
