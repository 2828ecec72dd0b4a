-- Parts and purchase orders (cloud/purchasing). A purchase order is its
-- own record that names the work order it buys for; the work order does
-- not hold it.
CREATE TABLE parts (number TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE part_stock (site TEXT NOT NULL, part TEXT NOT NULL, quantity DOUBLE PRECISION NOT NULL, PRIMARY KEY (site, part));
CREATE TABLE purchase_orders (
	id TEXT PRIMARY KEY,
	wo TEXT NOT NULL DEFAULT '',
	site TEXT NOT NULL,
	vendor TEXT NOT NULL DEFAULT '',
	supplier TEXT NOT NULL,
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	version INTEGER NOT NULL,
	data TEXT NOT NULL
);
CREATE INDEX po_wo ON purchase_orders (wo);
CREATE INDEX po_site ON purchase_orders (site, created_at);
CREATE INDEX po_created ON purchase_orders (created_at)
