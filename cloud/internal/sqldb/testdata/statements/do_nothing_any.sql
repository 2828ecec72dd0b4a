INSERT INTO wo_facts_daily (day, site) SELECT $1, f.site FROM wo_facts f WHERE 1 = 1 GROUP BY f.site ON CONFLICT DO NOTHING
