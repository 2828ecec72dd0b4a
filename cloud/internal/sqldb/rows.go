package sqldb

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// jsonRows decodes the rows of a query of one JSON column into a slice of
// T (a pointer type for a slice of pointers), closing the rows. It is
// given the query's error too, so that a call site reads as one line.
func jsonRows[T any](rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decode %T: %w", v, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// jsonRow decodes a query of one JSON column that returns at most one row:
// the value, or nil when there is no row.
func jsonRow[T any](row *sql.Row) (*T, error) {
	var data []byte
	if err := row.Scan(&data); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}
