package locale

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
)

var verbs = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestEveryMessageTranslated fails for a message without its Spanish or
// French, or whose translation drops or changes a fmt verb.
func TestEveryMessageTranslated(t *testing.T) {
	for key, tr := range messages {
		for i, lang := range []string{"es", "fr"} {
			if tr[i] == "" {
				t.Errorf("%q has no %s translation", key, lang)
				continue
			}
			if want, got := verbs.FindAllString(key, -1), verbs.FindAllString(tr[i], -1); !slices.Equal(want, got) {
				t.Errorf("%q in %s (%q) has verbs %v, want %v", key, lang, tr[i], got, want)
			}
		}
	}
	if got := For("es").T("Thanks: work order #%s is open.", "12"); got != "Gracias: la orden de trabajo n.º 12 está abierta." {
		t.Errorf("es: %q", got)
	}
	if got := For("fr").T("No reports in the last %d days.", 30); got != "Aucun signalement ces 30 derniers jours." {
		t.Errorf("fr: %q", got)
	}
	if got := For("de").T("Report a problem"); got != "Report a problem" {
		t.Errorf("an unknown language is not English: %q", got)
	}
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name, query, cookie, accept, want string
		remembered                        bool
	}{
		{name: "nothing", want: "en"},
		{name: "spanish browser", accept: "es-MX,es;q=0.9,en;q=0.5", want: "es"},
		{name: "french canadian", accept: "fr-CA", want: "fr"},
		{name: "german", accept: "de-DE,de;q=0.9", want: "en"},
		{name: "garbage header", accept: ";;;q=x", want: "en"},
		{name: "cookie beats header", cookie: "fr", accept: "es", want: "fr"},
		{name: "unknown cookie", cookie: "xx", accept: "es", want: "es"},
		{name: "chosen on the page", query: "lang=es", cookie: "fr", accept: "fr", want: "es", remembered: true},
		{name: "unknown choice", query: "lang=de", accept: "fr", want: "fr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/store?"+tc.query, nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: Cookie, Value: tc.cookie})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			w := httptest.NewRecorder()
			if got := Choose(w, r, false).Lang.Code; got != tc.want {
				t.Errorf("language %s, want %s", got, tc.want)
			}
			set := w.Result().Cookies()
			if tc.remembered != (len(set) == 1 && set[0].Name == Cookie && set[0].Value == tc.want && set[0].MaxAge > 0) {
				t.Errorf("cookies set %v, remembered %v", set, tc.remembered)
			}
		})
	}
}

func FuzzChoose(f *testing.F) {
	f.Add("es-MX,es;q=0.9", "fr", "lang=es")
	f.Add("*;q=0.1", "", "")
	f.Fuzz(func(t *testing.T, accept, cookie, query string) {
		r := httptest.NewRequest("GET", "/store", nil)
		r.URL.RawQuery = query
		r.Header.Set("Accept-Language", accept)
		r.Header.Set("Cookie", Cookie+"="+cookie)
		if p := Choose(httptest.NewRecorder(), r, true); !known(p.Lang.Code) {
			t.Fatalf("chose %q", p.Lang.Code)
		}
	})
}
