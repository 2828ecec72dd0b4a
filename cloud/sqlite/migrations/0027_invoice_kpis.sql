-- What the invoice KPIs count (cloud/internal/sqldb/invoicekpis.go): when
-- an invoice was first submitted, when it was approved, and whether it
-- was ever disputed. Invoices kept before this get their first
-- submission from submitted_at and an approval from updated_at when
-- approved (a revision or a payment since moved those: close enough).
ALTER TABLE invoices ADD COLUMN first_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN approved_at INTEGER;
ALTER TABLE invoices ADD COLUMN disputed INTEGER NOT NULL DEFAULT 0;
UPDATE invoices SET first_at = submitted_at, approved_at = CASE WHEN state = 'approved' THEN updated_at END;
CREATE INDEX invoices_first ON invoices (first_at);
CREATE INDEX invoices_approved ON invoices (approved_at)
