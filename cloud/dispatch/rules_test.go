package dispatch

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func yamlInto(r *Rules, src string) error {
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(r); err != nil {
		return err
	}
	return r.Validate()
}

var wantLine = regexp.MustCompile(`(?m)^# want: (.*)$`)

// TestParseRules reads testdata/rules: *.good.yaml must parse; each
// *.bad.yaml must fail with every "# want:" message in its header. The
// comment lines count, so the positions in the wants are where the errors
// are in the file.
func TestParseRules(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no rules in testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRules(filepath.Base(f), data)
			if strings.HasSuffix(f, ".good.yaml") {
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Order) == 0 {
					t.Error("no order")
				}
				return
			}
			if err == nil {
				t.Fatal("parsed; want errors")
			}
			for _, m := range wantLine.FindAllSubmatch(data, -1) {
				if !strings.Contains(err.Error(), string(m[1])) {
					t.Errorf("missing %q in:\n%v", m[1], err)
				}
			}
		})
	}
}

func TestParseRulesOverDefaults(t *testing.T) {
	r, err := ParseRules("x.yaml", []byte("order: [cost]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Order) != 1 || r.Order[0] != ByCost || r.Buckets.Score != 0.05 || r.Documents.Technician["hvac"][0] != EPA608 {
		t.Errorf("got %+v", r)
	}
	if _, err := ParseRules("empty.yaml", nil); err != nil {
		t.Errorf("empty: %v", err)
	}
}

// FuzzParseRules: the decoder never panics, and rules it accepts survive
// a round trip through YAML unchanged in meaning.
func FuzzParseRules(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.yaml"))
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Add([]byte("order: [rank, rank]\nbuckets: {score: .nan}"))
	f.Add([]byte("business_hours: {hours: {mon: '24:00-24:00'}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRules("fuzz.yaml", data)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(&r)
		if err != nil {
			t.Fatalf("marshal accepted rules: %v", err)
		}
		r2, err := ParseRules("again.yaml", out)
		if err != nil {
			t.Fatalf("accepted rules do not parse again: %v\n%s", err, out)
		}
		out2, _ := yaml.Marshal(&r2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip differs:\n%s\n---\n%s", out, out2)
		}
	})
}
