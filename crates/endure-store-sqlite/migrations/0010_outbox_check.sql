-- Endure embedded schema, version 10: for the outbox check, which walks the open runs (current
-- pointers with status Running) in key order and reads each one's task rows. Without these
-- indexes it would read every closed run and every task; the second also serves deleting a run.
CREATE INDEX current_runs_by_status ON current_runs (status, namespace_id, workflow_id);
CREATE INDEX tasks_by_run ON tasks (namespace_id, workflow_id, run_id);
