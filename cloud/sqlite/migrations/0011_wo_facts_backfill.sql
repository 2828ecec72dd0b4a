-- Work orders saved before wo_facts existed get their facts from the Go
-- backfill that runs right after the migrations (sqldb.DB.BackfillFacts);
-- done turns 1 when it has finished, so it runs once per database.
CREATE TABLE wo_facts_backfill (done INTEGER NOT NULL);
INSERT INTO wo_facts_backfill (done) VALUES (0)
