package mailsink

import (
	"net/http/httptest"
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

func TestHandler(t *testing.T) {
	s, err := Start("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, _ := os.ReadFile("testdata/alternative.eml")
	m, _ := Parse(raw)
	m.To = []string{"ann@store.example"}
	s.add(m)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo/mail", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "Café P1 — cooler") || !strings.Contains(body, "ann@store.example") || !strings.Contains(body, "?html=0") {
		t.Errorf("list: %d %s", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo/mail?html=0", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<b>high</b>") || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("html part: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	for _, bad := range []string{"1", "-1", "x"} {
		rec = httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo/mail?html="+bad, nil))
		if rec.Code != 404 {
			t.Errorf("html=%s: %d", bad, rec.Code)
		}
	}
}
