// Package locale holds the words of the store staff's pages (the sign-in,
// report and store pages) in English, Spanish and French, as golang.org/x/text
// message catalogues, and picks a page's language: the one asked for on
// the page (remembered in a cookie), else the browser's Accept-Language.
//
// English is the key: a message is written in English where it is used,
// and messages lists its Spanish and French. A test fails when a message
// the pages use lacks either.
package locale

import (
	"net/http"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Cookie remembers the language chosen on a page.
const Cookie = "frostline_lang"

// Language is one the pages speak.
type Language struct {
	Tag  language.Tag
	Code string // "en"
	Name string // in itself: "Español"
}

// Languages are the pages' languages; the first is the fallback.
var Languages = []Language{
	{language.English, "en", "English"},
	{language.Spanish, "es", "Español"},
	{language.French, "fr", "Français"},
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Spanish, language.French})

// cat is the catalogue built from messages.
var cat = func() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for key, tr := range messages {
		must(b.SetString(language.English, key, key))
		must(b.SetString(language.Spanish, key, tr[0]))
		must(b.SetString(language.French, key, tr[1]))
	}
	return b
}()

func must(err error) {
	if err != nil {
		panic(err) // messages is a literal: a bad one fails every test
	}
}

// Printer says messages in one language.
type Printer struct {
	Lang Language
	p    *message.Printer
}

// T is the message key in the printer's language, formatted with args
// (fmt verbs, as the key has them).
func (p *Printer) T(key string, args ...any) string { return p.p.Sprintf(key, args...) }

// For returns the printer of a language code ("es"), or of English.
func For(code string) *Printer {
	for _, l := range Languages {
		if l.Code == code {
			return &Printer{Lang: l, p: message.NewPrinter(l.Tag, message.Catalog(cat))}
		}
	}
	return For("en")
}

// Choose picks a request's language: ?lang= (which it remembers in a
// cookie on w), else the cookie, else Accept-Language, else English.
func Choose(w http.ResponseWriter, r *http.Request, secure bool) *Printer {
	if code := r.URL.Query().Get("lang"); code != "" && known(code) {
		http.SetCookie(w, &http.Cookie{Name: Cookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true,
			Secure: secure, SameSite: http.SameSiteLaxMode})
		return For(code)
	}
	if c, err := r.Cookie(Cookie); err == nil && known(c.Value) {
		return For(c.Value)
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return For("en")
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return For("en")
	}
	return For(Languages[i].Code)
}

func known(code string) bool {
	for _, l := range Languages {
		if l.Code == code {
			return true
		}
	}
	return false
}
