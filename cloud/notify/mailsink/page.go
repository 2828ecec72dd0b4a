package mailsink

import (
	"html/template"
	"net/http"
	"strconv"
)

var page = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mail room ({{len .}})</title>
<style>body{font-family:sans-serif;max-width:960px;margin:1em auto}details{border-bottom:1px solid #ddd;padding:.4em 0}
summary{cursor:pointer}pre{white-space:pre-wrap;background:#f6f6f6;padding:.6em}small{color:#666}</style></head>
<body><h1>Mail room</h1><p>Every message the cloud sent, newest first ({{len .}}). Plain SMTP, kept in memory.</p>
{{range .}}<details><summary><b>{{.Mail.Subject}}</b> <small>to {{range .Mail.To}}{{.}} {{end}}at {{.Mail.At.Format "15:04:05"}}</small></summary>
<pre>{{.Mail.Text}}</pre>{{if .Mail.HTML}}<p><a href="?html={{.N}}">the HTML part</a></p>{{end}}</details>
{{else}}<p>Nothing yet.</p>{{end}}</body></html>`))

// Handler shows the sink's messages, newest first: each one's subject,
// recipients and text, and its HTML part on its own (?html=N), served
// sandboxed so that nothing in a message runs.
func (s *Sink) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mails := s.Messages()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if q := r.URL.Query().Get("html"); q != "" {
			n, err := strconv.Atoi(q)
			if err != nil || n < 0 || n >= len(mails) {
				http.Error(w, "no such message", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(mails[n].HTML)) //nolint:errcheck // the client went away
			return
		}
		type row struct {
			N    int
			Mail Mail
		}
		rows := make([]row, 0, len(mails))
		for i := len(mails) - 1; i >= 0; i-- {
			rows = append(rows, row{N: i, Mail: mails[i]})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		page.Execute(w, rows) //nolint:errcheck // the client went away
	})
}
