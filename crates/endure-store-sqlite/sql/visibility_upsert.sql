-- A run's visibility row, inserted or replaced in place. An upsert, not INSERT OR REPLACE: the
-- status counters' triggers (migration 0008) must see an UPDATE (a REPLACE deletes without
-- firing delete triggers).
INSERT INTO visibility (
    namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time,
    execution_time, close_time, history_length, history_size_bytes, state_transition_count, memo,
    search_attributes, parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, custom
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
ON CONFLICT (namespace_id, run_id) DO UPDATE SET
    workflow_id = excluded.workflow_id,
    workflow_type = excluded.workflow_type,
    task_queue = excluded.task_queue,
    status = excluded.status,
    start_time = excluded.start_time,
    execution_time = excluded.execution_time,
    close_time = excluded.close_time,
    history_length = excluded.history_length,
    history_size_bytes = excluded.history_size_bytes,
    state_transition_count = excluded.state_transition_count,
    memo = excluded.memo,
    search_attributes = excluded.search_attributes,
    parent_workflow_id = excluded.parent_workflow_id,
    parent_run_id = excluded.parent_run_id,
    root_workflow_id = excluded.root_workflow_id,
    root_run_id = excluded.root_run_id,
    custom = excluded.custom
