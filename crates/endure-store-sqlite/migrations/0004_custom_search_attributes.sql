-- Endure embedded schema, version 4: custom search attributes.
-- The attributes registered in each namespace (type: Temporal's IndexedValueType number) …
CREATE TABLE search_attributes (
    namespace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    type         INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, name)
) WITHOUT ROWID;
-- … and each run's values of them, as a JSON object name → value (KeywordList: an array;
-- Bool: 0/1; Datetime: ns since the epoch), queried with SQLite's JSON functions.
ALTER TABLE visibility ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';
