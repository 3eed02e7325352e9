-- A run's visibility row, inserted or replaced in place. `custom` and `custom_words` arrive as
-- JSON text.
INSERT INTO visibility (
    namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time,
    execution_time, close_time, history_length, history_size_bytes, state_transition_count, memo,
    search_attributes, parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, custom,
    custom_words
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19::text::jsonb, $20::text::jsonb
)
ON CONFLICT (namespace_id, run_id) DO UPDATE SET
    workflow_id = EXCLUDED.workflow_id,
    workflow_type = EXCLUDED.workflow_type,
    task_queue = EXCLUDED.task_queue,
    status = EXCLUDED.status,
    start_time = EXCLUDED.start_time,
    execution_time = EXCLUDED.execution_time,
    close_time = EXCLUDED.close_time,
    history_length = EXCLUDED.history_length,
    history_size_bytes = EXCLUDED.history_size_bytes,
    state_transition_count = EXCLUDED.state_transition_count,
    memo = EXCLUDED.memo,
    search_attributes = EXCLUDED.search_attributes,
    parent_workflow_id = EXCLUDED.parent_workflow_id,
    parent_run_id = EXCLUDED.parent_run_id,
    root_workflow_id = EXCLUDED.root_workflow_id,
    root_run_id = EXCLUDED.root_run_id,
    custom = EXCLUDED.custom,
    custom_words = EXCLUDED.custom_words
