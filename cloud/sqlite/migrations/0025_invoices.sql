-- Invoices vendors submit (cloud/invoicing): the document is the JSON of
-- the API; the columns are what lists and the AP export filter by.
CREATE TABLE invoices (
	id TEXT PRIMARY KEY,
	work_order TEXT NOT NULL,
	vendor TEXT NOT NULL,
	state TEXT NOT NULL,
	total REAL NOT NULL,
	version INTEGER NOT NULL,
	data TEXT NOT NULL,
	submitted_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX invoices_wo ON invoices (work_order);
CREATE INDEX invoices_state ON invoices (state, updated_at)
