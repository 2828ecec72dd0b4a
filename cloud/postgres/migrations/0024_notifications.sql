-- People and the notifications they are sent (cloud/notify). A person's
-- document is the JSON of /api/v1/people; role is a column for listing.
CREATE TABLE people (
	id TEXT PRIMARY KEY,
	role TEXT NOT NULL,
	data TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
-- The notification outbox: one row per (event, topic, person, channel),
-- written in the transaction that saves the event, so a crash leaves both
-- or neither and the primary key makes a second planning a no-op. The
-- sender leases due rows (lease_owner, lease_until) as the webhook worker
-- does.
CREATE TABLE notifications (
	id TEXT PRIMARY KEY,
	event TEXT NOT NULL,
	work_order TEXT NOT NULL DEFAULT '',
	topic TEXT NOT NULL,
	person TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	channel TEXT NOT NULL,
	address TEXT NOT NULL,
	priority TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL,
	body_text TEXT NOT NULL,
	body_html TEXT NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at BIGINT NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	note TEXT NOT NULL DEFAULT '',
	step INTEGER NOT NULL DEFAULT 0,
	escalate_at BIGINT,
	sent_at BIGINT,
	acked_at BIGINT,
	acked_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (next_at) WHERE state = 'pending';
CREATE INDEX notifications_wo ON notifications (work_order, created_at);
CREATE INDEX notifications_event ON notifications (event);
CREATE INDEX notifications_escalate ON notifications (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX notifications_held ON notifications (person) WHERE state = 'digest';
CREATE INDEX notifications_done ON notifications (updated_at) WHERE state <> 'pending'
