INSERT INTO wo_windows (incident, event, seq, data) VALUES ($1, $2, $3, $4) ON CONFLICT (incident, event) DO UPDATE SET seq = excluded.seq, data = excluded.data WHERE wo_windows.seq < excluded.seq
