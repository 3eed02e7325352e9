-- Endure embedded schema, version 7: the type and status indexes also carry the listing order
-- (running first, then by close time), so "WorkflowType = … AND ExecutionStatus = …" walks
-- its rows in result order and stops after a page instead of sorting every match. Indexed
-- columns change only at start and close, so these cost nothing on other transitions.
DROP INDEX IF EXISTS visibility_by_type;
DROP INDEX IF EXISTS visibility_by_status;
CREATE INDEX visibility_by_type ON visibility (
    namespace_id, workflow_type, status,
    (CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END) DESC, start_time DESC, run_id DESC
);
CREATE INDEX visibility_by_status ON visibility (
    namespace_id, status,
    (CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END) DESC, start_time DESC, run_id DESC
);
