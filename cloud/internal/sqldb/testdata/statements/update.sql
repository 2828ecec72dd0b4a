INSERT INTO sites (id, region, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET region = excluded.region, data = excluded.data
