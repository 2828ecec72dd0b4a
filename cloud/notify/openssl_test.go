package notify

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShellVerification runs the openssl check docs/dispatch.md gives
// integrators (testdata/verify.sh) against real signatures, so the
// documented recipe cannot drift from Sign.
func TestShellVerification(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	data := []byte(`{"id":"wo_1-3","type":"workorder.transition","data":{"site":"s1"}}`)
	if err := os.WriteFile(body, data, 0o600); err != nil {
		t.Fatal(err)
	}
	old, fresh := NewSecret(t0), NewSecret(t0)
	header := Sign(data, time.Now(), []byte(old.Value), []byte(fresh.Value))
	tests := []struct {
		name, secret, header string
		ok                   bool
	}{
		{"current secret", fresh.Value, header, true},
		{"old secret during rotation", old.Value, header, true},
		{"wrong secret", "whsec_nope", header, false},
		{"stale", fresh.Value, Sign(data, time.Now().Add(-10*time.Minute), []byte(fresh.Value)), false},
	}
	for _, tt := range tests {
		out, err := exec.Command("sh", "testdata/verify.sh", tt.secret, body, tt.header).CombinedOutput()
		if ok := err == nil && strings.TrimSpace(string(out)) == "ok"; ok != tt.ok {
			t.Errorf("%s: %v %s", tt.name, err, out)
		}
	}
}
