-- Endure embedded schema, version 3: parent and root of each run in its visibility row
-- (ParentWorkflowId, ParentRunId, RootWorkflowId, RootRunId search attributes).
ALTER TABLE visibility ADD COLUMN parent_workflow_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN parent_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN root_workflow_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visibility ADD COLUMN root_run_id TEXT NOT NULL DEFAULT '';
-- Rows written before this version: a top-level run is its own root (children written before
-- are rare in a dev database and keep an empty parent).
UPDATE visibility SET root_workflow_id = workflow_id, root_run_id = run_id WHERE root_workflow_id = '';
