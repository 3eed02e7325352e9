-- Endure embedded schema, version 6: the listing order of the real server's SQL visibility —
-- running runs first (by start time), then closed runs by close time — served by an index.
CREATE INDEX visibility_by_close ON visibility (
    namespace_id,
    (CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END) DESC,
    start_time DESC,
    run_id DESC
);
