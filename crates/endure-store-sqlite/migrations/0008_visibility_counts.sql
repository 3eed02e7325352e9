-- Endure embedded schema, version 8: runs per namespace and status, kept by triggers, so
-- "CountWorkflowExecutions GROUP BY ExecutionStatus" over a whole namespace (the status tabs of
-- a UI) reads a handful of rows instead of scanning an index of every run.
CREATE TABLE visibility_counts (
    namespace_id TEXT NOT NULL,
    status       INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, status)
) WITHOUT ROWID;
INSERT INTO visibility_counts (namespace_id, status, n)
    SELECT namespace_id, status, COUNT(*) FROM visibility GROUP BY namespace_id, status;
CREATE TRIGGER visibility_counts_insert AFTER INSERT ON visibility BEGIN
    INSERT INTO visibility_counts (namespace_id, status, n) VALUES (new.namespace_id, new.status, 1)
        ON CONFLICT (namespace_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER visibility_counts_delete AFTER DELETE ON visibility BEGIN
    UPDATE visibility_counts SET n = n - 1 WHERE namespace_id = old.namespace_id AND status = old.status;
END;
CREATE TRIGGER visibility_counts_status AFTER UPDATE OF status ON visibility
    WHEN old.status != new.status BEGIN
    UPDATE visibility_counts SET n = n - 1 WHERE namespace_id = old.namespace_id AND status = old.status;
    INSERT INTO visibility_counts (namespace_id, status, n) VALUES (new.namespace_id, new.status, 1)
        ON CONFLICT (namespace_id, status) DO UPDATE SET n = n + 1;
END;
