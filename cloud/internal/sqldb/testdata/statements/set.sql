INSERT INTO pm_runtime_daily (site, asset, day, hours) VALUES ($1, $2, $3, $4) ON CONFLICT (site, asset, day) DO UPDATE SET hours = pm_runtime_daily.hours + excluded.hours
