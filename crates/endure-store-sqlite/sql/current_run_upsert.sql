-- The current-run pointer of a workflow id, after its condition was checked.
INSERT INTO current_runs (namespace_id, workflow_id, run_id, status, start_request_id)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (namespace_id, workflow_id) DO UPDATE SET
    run_id = excluded.run_id,
    status = excluded.status,
    start_request_id = excluded.start_request_id
