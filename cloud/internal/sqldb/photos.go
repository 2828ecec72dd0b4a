package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/frostline/frostline/cloud"
)

// PutPhoto stores a photo of a work order inside the transaction, so a
// report and its photo are written together or not at all.
func (t *Tx) PutPhoto(ctx context.Context, id, workOrder, contentType string, data []byte) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO photos (id, wo, content_type, data, at) VALUES ($1, $2, $3, $4, $5)`,
		id, workOrder, contentType, data, micros(t.db.now()))
	if err != nil {
		return fmt.Errorf("put photo: %w", err)
	}
	return nil
}

// Photo returns a work order's photo, or ENOTFOUND.
func (db *DB) Photo(ctx context.Context, workOrder, id string) (contentType string, data []byte, err error) {
	err = db.read().QueryRowContext(ctx, `SELECT content_type, data FROM photos WHERE id = $1 AND wo = $2`, id, workOrder).Scan(&contentType, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, cloud.Errorf(cloud.ENOTFOUND, "photo %s not found", id)
	} else if err != nil {
		return "", nil, fmt.Errorf("%s: photo: %w", db.Dialect.Name, err)
	}
	return contentType, data, nil
}
