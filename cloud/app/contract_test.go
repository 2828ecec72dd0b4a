package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStoreContract builds testdata/contract, a store written against the
// contract, whole and then with one method taken away: a store that lacks
// one is a compile error naming the method, not a feature lost at run time.
func TestStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	for _, c := range []struct{ tags, missing string }{
		{"", ""},
		{"lacking_kpis", "db.KPIs"},          // a store method (analytics)
		{"lacking_claim", "ClaimOccurrence"}, // a transaction method (pm)
	} {
		t.Run("tags="+c.tags, func(t *testing.T) {
			out, err := exec.Command("go", "build", "-tags", c.tags, "./testdata/contract").CombinedOutput()
			switch {
			case c.missing == "" && err != nil:
				t.Fatalf("the whole store does not compile: %v\n%s", err, out)
			case c.missing != "" && err == nil:
				t.Fatalf("a store lacking %s compiled", c.missing)
			case c.missing != "" && !strings.Contains(string(out), c.missing):
				t.Fatalf("the compile error does not name %s:\n%s", c.missing, out)
			}
		})
	}
}
