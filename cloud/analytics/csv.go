package analytics

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/frostline/frostline/cloud"
)

// WriteCSV writes the report as CSV: one header line (the group-by
// dimensions, then Names), one line per row; an undefined KPI (0/0) is an
// empty cell.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := append(append([]string{}, r.GroupBy...), Names...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("analytics: csv: %w", err)
	}
	line := make([]string, len(header))
	for _, row := range r.Rows {
		for i, d := range r.GroupBy {
			line[i] = cloud.CSVCell(row.Group[d]) // a region or a name is text people typed
		}
		for i, name := range Names {
			cell := ""
			if v := row.Values[name]; v != nil {
				cell = strconv.FormatFloat(*v, 'g', -1, 64)
			}
			line[len(r.GroupBy)+i] = cell
		}
		if err := cw.Write(line); err != nil {
			return fmt.Errorf("analytics: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("analytics: csv: %w", err)
	}
	return nil
}
