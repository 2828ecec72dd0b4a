package dispatch_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/dispatch"
)

func TestParseVendors(t *testing.T) {
	data, err := os.ReadFile("testdata/vendors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dispatch.ParseVendors("testdata/vendors.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].ID != "polar-refrigeration" || vs[0].Rates["refrigeration"].Hourly != 125 {
		t.Fatalf("vendors: %+v", vs)
	}
	if nte, ok := vs[0].NTEFor("refrigeration", "P1"); !ok || nte != 2500 {
		t.Errorf("NTE P1 = %v %v", nte, ok)
	}
	if c := vs[0].CommitmentFor("P1"); c == nil || time.Duration(c.Acknowledge) != 15*time.Minute {
		t.Errorf("SLA P1 = %+v", c)
	}
}

func TestParseVendorsErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "- id: a\n  name: A\n  colour: red\n", "line 3: field colour not found"},
		{"not a list", "id: a\n", "cannot unmarshal"},
		{"invalid vendor", "- id: a\n  name: A\n  kind: external\n  trades: [plumbing]\n", "coverage: list sites"},
		{"twice", "- {id: a, name: A, kind: external, trades: [general], coverage: {sites: [s1]}}\n- {id: a, name: A, kind: external, trades: [general], coverage: {sites: [s1]}}\n", "listed twice"},
		{"bad trade", "- {id: a, name: A, kind: external, trades: [plumbin], coverage: {sites: [s1]}}\n", `unknown trade "plumbin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dispatch.ParseVendors("v.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParseVendors(f *testing.F) {
	if data, err := os.ReadFile("testdata/vendors.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("- id: a\n  name: A\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := dispatch.ParseVendors("fuzz.yaml", data)
		if err != nil {
			return
		}
		for i := range vs {
			if err := vs[i].Validate(); err != nil {
				t.Fatalf("accepted an invalid vendor: %v", err)
			}
		}
	})
}
