-- Endure embedded schema, version 5: timer tasks by fire time. Only the timers due soon are
-- held in memory; the rest are read from here as their time approaches.
CREATE INDEX tasks_by_fire_at ON tasks (fire_at, task_id) WHERE fire_at IS NOT NULL;
