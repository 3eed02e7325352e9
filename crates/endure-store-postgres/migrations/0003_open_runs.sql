-- Endure PostgreSQL schema, version 3: the outbox check walks the open runs (current pointers
-- with status Running) in key order; without this index it would read every closed one too.
CREATE INDEX current_runs_by_status ON current_runs (status, namespace_id, workflow_id);
