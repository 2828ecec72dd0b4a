-- PostgreSQL's migration 0006 sets a fill factor; SQLite has none. This
-- keeps the two stores' migration numbers in step.
SELECT 1;
