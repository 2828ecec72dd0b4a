-- Most updates of a work order change only its document and version, no
-- indexed column: room on the page lets PostgreSQL make them HOT updates,
-- which touch none of the table's indexes.
ALTER TABLE workorders SET (fillfactor = 70);
