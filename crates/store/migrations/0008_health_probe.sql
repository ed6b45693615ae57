-- Readiness proves a write can succeed by committing one: a one-row update
-- of this table (see Db::check_writable). A full disk, a read-only file or
-- a stuck writer fails it, where a bare BEGIN/ROLLBACK would not.
CREATE TABLE health_probe (
    id BIGINT PRIMARY KEY,
    checked_at TEXT NOT NULL
);
INSERT INTO health_probe (id, checked_at) VALUES (1, '');
