-- hold_until is every work order's next timer now (hold-off end or
-- dispatch lapse), not only a triaged one's.
DROP INDEX wo_hold;
CREATE INDEX wo_timer ON workorders (hold_until) WHERE hold_until IS NOT NULL;
