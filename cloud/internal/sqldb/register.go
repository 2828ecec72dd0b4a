package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/frostline/frostline/cloud"
)

// PutSite creates or replaces a site.
func (db *DB) PutSite(ctx context.Context, s *cloud.Site) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	put := Insert{Table: "sites", Columns: cols("id, region, data"), Conflict: cols("id"), Update: cols("region, data")}
	_, err = db.write().ExecContext(ctx, put.SQL(), s.ID, s.Region, string(data))
	if err != nil {
		return fmt.Errorf("%s: put site: %w", db.Dialect.Name, err)
	}
	return nil
}

// Site returns a site, or ENOTFOUND.
func (db *DB) Site(ctx context.Context, id string) (*cloud.Site, error) {
	s, err := getSite(ctx, db.read(), id)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return nil, fmt.Errorf("%s: %w", db.Dialect.Name, err)
	}
	return s, err
}

// getSite reads a site through q (the pool, or a transaction).
func getSite(ctx context.Context, q querier, id string) (*cloud.Site, error) {
	s, err := jsonRow[cloud.Site](q.QueryRowContext(ctx, `SELECT data FROM sites WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	if s == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "site %s not found", id)
	}
	return s, nil
}

// Sites lists sites; a non-nil only restricts the list to those ids.
func (db *DB) Sites(ctx context.Context, only []string) ([]*cloud.Site, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT data FROM sites ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("%s: sites: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var keep map[string]bool
	if only != nil {
		keep = map[string]bool{}
		for _, s := range only {
			keep[s] = true
		}
	}
	out := []*cloud.Site{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var s cloud.Site
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		if keep == nil || keep[s.ID] {
			out = append(out, &s)
		}
	}
	return out, rows.Err()
}

// SitesInRegion returns the ids of a region's sites.
func (db *DB) SitesInRegion(ctx context.Context, region string) ([]string, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT id FROM sites WHERE region = $1 ORDER BY id`, region)
	if err != nil {
		return nil, fmt.Errorf("%s: region: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// DeleteSite removes a site and its assets; work orders are history and
// stay.
func (db *DB) DeleteSite(ctx context.Context, id string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM sites WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("%s: delete site: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", id)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM assets WHERE site = $1`, id); err != nil {
		return fmt.Errorf("%s: delete site: %w", db.Dialect.Name, err)
	}
	return tx.Commit()
}

// PutAsset creates or replaces an asset; its site must exist.
func (db *DB) PutAsset(ctx context.Context, a *cloud.Asset) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	put := Insert{Table: "assets", Columns: cols("site, id, data"), Select: `SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM sites WHERE id = $1)`,
		Conflict: cols("site, id"), Update: cols("data")}
	res, err := db.write().ExecContext(ctx, put.SQL(), a.Site, a.ID, string(data))
	if err != nil {
		return fmt.Errorf("%s: put asset: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", a.Site)
	}
	return nil
}

// Asset returns an asset, or ENOTFOUND.
func (db *DB) Asset(ctx context.Context, site, id string) (*cloud.Asset, error) {
	a, err := getAsset(ctx, db.read(), site, id)
	if err != nil {
		return nil, fmt.Errorf("%s: asset: %w", db.Dialect.Name, err)
	}
	if a == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "asset %s/%s not found", site, id)
	}
	return a, nil
}

func getAsset(ctx context.Context, q querier, site, id string) (*cloud.Asset, error) {
	var data []byte
	err := q.QueryRowContext(ctx, `SELECT data FROM assets WHERE site = $1 AND id = $2`, site, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var a cloud.Asset
	return &a, json.Unmarshal(data, &a)
}

// Assets lists a site's assets.
func (db *DB) Assets(ctx context.Context, site string) ([]*cloud.Asset, error) {
	as, err := jsonRows[*cloud.Asset](db.read().QueryContext(ctx, `SELECT data FROM assets WHERE site = $1 ORDER BY id`, site))
	if err != nil {
		return nil, fmt.Errorf("%s: assets: %w", db.Dialect.Name, err)
	}
	return as, nil
}

// DeleteAsset removes an asset.
func (db *DB) DeleteAsset(ctx context.Context, site, id string) error {
	res, err := db.write().ExecContext(ctx, `DELETE FROM assets WHERE site = $1 AND id = $2`, site, id)
	if err != nil {
		return fmt.Errorf("%s: delete asset: %w", db.Dialect.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloud.Errorf(cloud.ENOTFOUND, "asset %s/%s not found", site, id)
	}
	return nil
}

// deleteOne deletes the row of table whose key column is key, or answers
// ENOTFOUND naming it what.
func (db *DB) deleteOne(ctx context.Context, table, column, what, key string) error {
	res, err := db.write().ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` = $1`, key)
	if err != nil {
		return fmt.Errorf("%s: delete %s: %w", db.Dialect.Name, what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cloud.Errorf(cloud.ENOTFOUND, "%s %s not found", what, key)
	}
	return nil
}
