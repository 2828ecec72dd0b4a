package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// View is what a message template sees: the work order as a person reads
// it, times already in the site's time zone.
type View struct {
	Person   string
	Subject  string
	Number   int64
	What     string // the title, or the problem
	Site     string
	SiteName string
	Asset    string
	Problem  string
	Priority string
	Trade    string
	Status   string
	Vendor   string
	// Technician, Remedy, Verification: when the event says.
	Technician   string
	Remedy       string
	Verification string
	RecallOf     string
	// At is when the event happened; ETA, AcceptBy and Due when given.
	At, ETA, AcceptBy, Due string
	// Quote and NTE are amounts as shown ("$1,250.00").
	Quote, QuoteText, NTE string
	Milestone, Lateness   string
	// Step is the escalation step (0: the FM), After the wait before it.
	Step  int
	After string
	// Link is the work order's page; AckLink the signed acknowledge link,
	// RateLink the signed link that asks the store whether it was fixed.
	Link, AckLink, RateLink string
	// Rating is the store's answer (TopicNotFixed): its score, comment
	// and what it led to.
	Score           int
	Comment         string
	Recall, Flagged bool
	// Invoice is a vendor's invoice number (its dispute reasons go in
	// Held, one a line).
	Invoice string
	// The digest: open work by site, and what was held for it.
	OpenCount int
	Sites     []DigestSite
	Held      []string
}

// DigestSite is one site's open work in a digest.
type DigestSite struct {
	Site string
	Rows []DigestRow
}

// DigestRow is one open work order in a digest.
type DigestRow struct {
	Number                      int64
	Priority, Status, Age, What string
	Vendor, Link                string
}

// Templates render messages, text and HTML, per topic.
type Templates struct {
	text *texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the embedded templates. Every topic has a subject,
// a text and an HTML body; a topic missing one is an error here, at start,
// rather than a blank message later.
func LoadTemplates() (*Templates, error) {
	text, err := texttemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/messages.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notify: templates: %w", err)
	}
	base, err := htmltemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/messages.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notify: templates: %w", err)
	}
	t := &Templates{text: text, html: map[string]*htmltemplate.Template{}}
	for _, topic := range Topics {
		for _, name := range []string{topic + ".subject", topic + ".text"} {
			if text.Lookup(name) == nil {
				return nil, fmt.Errorf("notify: templates: no %q", name)
			}
		}
		if base.Lookup(topic) == nil {
			return nil, fmt.Errorf("notify: templates: no HTML %q", topic)
		}
		h, err := base.Clone()
		if err == nil {
			_, err = h.New("body").Parse(`{{template "` + topic + `" .}}`)
		}
		if err != nil {
			return nil, fmt.Errorf("notify: templates: %s: %w", topic, err)
		}
		t.html[topic] = h
	}
	return t, nil
}

// Render returns a topic's subject, text and HTML for v.
func (t *Templates) Render(topic string, v *View) (subject, text, html string, err error) {
	h, ok := t.html[topic]
	if !ok {
		return "", "", "", fmt.Errorf("notify: no template for topic %q", topic)
	}
	var b bytes.Buffer
	if err := t.text.ExecuteTemplate(&b, topic+".subject", v); err != nil {
		return "", "", "", fmt.Errorf("notify: render %s: %w", topic, err)
	}
	// A subject is one line, whatever a title held.
	subject = strings.Join(strings.Fields(b.String()), " ")
	vv := *v
	vv.Subject = subject
	b.Reset()
	if err := t.text.ExecuteTemplate(&b, topic+".text", &vv); err != nil {
		return "", "", "", fmt.Errorf("notify: render %s: %w", topic, err)
	}
	text = b.String()
	if vv.Link != "" {
		text += "\nWO-" + fmt.Sprint(vv.Number) + ": " + vv.Link + "\n"
	}
	b.Reset()
	if err := h.ExecuteTemplate(&b, "layout", &vv); err != nil {
		return "", "", "", fmt.Errorf("notify: render %s: %w", topic, err)
	}
	return subject, text, b.String(), nil
}

// money shows a USD amount.
func money(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var out []byte
	for i := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, whole[i])
	}
	if neg {
		return "-$" + string(out) + "." + frac
	}
	return "$" + string(out) + "." + frac
}

// when shows a time in loc, with its zone.
func when(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// age shows a duration as a person says it: 3d 4h, 5h 10m, 12m.
func age(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dm", int(d/time.Minute))
}
