INSERT INTO assets (site, id, data) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM sites WHERE id = $1) ON CONFLICT (site, id) DO UPDATE SET data = excluded.data
