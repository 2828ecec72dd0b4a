-- Two-filter lists (a site's work orders in one status, a vendor's in one
-- status) stay index-only walks in number order, even when nothing matches.
CREATE INDEX wo_site_status ON workorders (site, status, number);
CREATE INDEX wo_vendor_status ON workorders (vendor, status, number);
CREATE INDEX wo_status_priority ON workorders (status, priority, number);
