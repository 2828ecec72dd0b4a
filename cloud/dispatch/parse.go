package dispatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// ParseVendors reads a vendor file: a YAML list of vendors, each the
// JSON of /api/v1/vendors written as YAML. Decoding is strict (unknown
// fields are errors, with their line) and every vendor is validated; an
// error names the file and the vendor.
func ParseVendors(name string, data []byte) ([]Vendor, error) {
	var vs []Vendor
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&vs); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i := range vs {
		v := &vs[i]
		label := fmt.Sprintf("%s: vendors[%d]", name, i)
		if v.ID != "" {
			label += fmt.Sprintf(" %q", v.ID)
		}
		if seen[v.ID] {
			errs = append(errs, fmt.Errorf("%s: id: listed twice", label))
		}
		seen[v.ID] = true
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return vs, nil
}
