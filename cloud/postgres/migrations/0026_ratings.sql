-- The store's say on a verified visit (workorder.Rating): one row per work
-- order and verification, written in the transaction that records the
-- rating's event, so that the key refuses a second answer to the same
-- question whichever replica takes it. data is the JSON of the API's
-- rating; the columns are what the list filters by.
CREATE TABLE ratings (
	work_order TEXT NOT NULL,
	verified_at BIGINT NOT NULL,
	site TEXT NOT NULL,
	vendor TEXT NOT NULL DEFAULT '',
	fixed INTEGER NOT NULL,
	score INTEGER NOT NULL,
	outcome TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL,
	data TEXT NOT NULL,
	PRIMARY KEY (work_order, verified_at)
);
CREATE INDEX ratings_vendor ON ratings (vendor, at);
CREATE INDEX ratings_site ON ratings (site, at);
CREATE INDEX ratings_outcome ON ratings (outcome, at) WHERE outcome <> ''
