-- The vendor register: each vendor's record as a JSON document
-- (cloud/dispatch.Vendor). The 'vendors' counter moves on every change, so
-- that each replica's cached pool knows when to reload.
CREATE TABLE vendors (id TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('vendors', 0);
-- Each work order's dispatch decision and offer book (dispatch.Book),
-- written in the same transaction as the work order's events.
CREATE TABLE dispatch_books (wo TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at BIGINT NOT NULL);
-- One row per offer of a work order to a vendor and how the work went:
-- what the scorecards are computed from.
CREATE TABLE vendor_outcomes (wo TEXT NOT NULL, vendor TEXT NOT NULL, offered_at BIGINT NOT NULL, trade TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (wo, vendor, offered_at));
CREATE INDEX vendor_outcomes_vendor ON vendor_outcomes (vendor, offered_at)
