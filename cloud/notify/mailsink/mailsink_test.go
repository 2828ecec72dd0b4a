package mailsink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) == 0 {
		t.Fatal("no testdata/*.eml")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.Subject != "Café P1 — cooler" || !strings.Contains(m.Text, "temperature is high") || !strings.Contains(m.HTML, "<b>high</b>") {
			t.Errorf("%s: subject %q text %q html %q", f, m.Subject, m.Text, m.HTML)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		f.Add(raw)
	}
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		Parse(raw) //nolint:errcheck // must not panic or hang
	})
}
