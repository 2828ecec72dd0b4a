-- Webhooks (cloud/notify): who is told, what is on its way, and what each
-- attempt got. The scope is resolved from the registering principal when
-- the webhook is created; a region scope is matched against sites.region
-- at fan-out, so a site added to the region later is covered.
CREATE TABLE webhooks (
	id TEXT PRIMARY KEY,
	url TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	scope TEXT NOT NULL,
	events TEXT NOT NULL DEFAULT '[]',
	secrets TEXT NOT NULL,
	active INTEGER NOT NULL DEFAULT 1,
	disabled_reason TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_owner ON webhooks (created_by);
-- One row per webhook x work-order notice, written in the transaction that
-- saves the notice; the id "<webhook>/<wo>-<version>" makes a second
-- fan-out of the same notice a no-op.
CREATE TABLE webhook_deliveries (
	id TEXT PRIMARY KEY,
	webhook TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event TEXT NOT NULL,
	type TEXT NOT NULL,
	work_order TEXT NOT NULL,
	body TEXT NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	replays INTEGER NOT NULL DEFAULT 0,
	next_at INTEGER NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook, created_at);
-- Finished deliveries are pruned after the retention period.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE state <> 'pending';
CREATE TABLE webhook_attempts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
	n INTEGER NOT NULL,
	url TEXT NOT NULL,
	at INTEGER NOT NULL,
	took_us INTEGER NOT NULL,
	status INTEGER NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	response TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL,
	next_at INTEGER
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery, id);
