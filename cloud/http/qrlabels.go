package http

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/frostline/frostline/cloud"
)

// paperSizes are the sheets the labels page lays out for: the CSS @page
// size and how many labels go across and down.
var paperSizes = map[string]struct {
	Name, Size   string
	Across, Down int
}{
	"a4":     {"A4", "210mm 297mm", 3, 6},
	"letter": {"Letter", "8.5in 11in", 3, 6},
}

// qrLabel is one asset's label: its name, and a QR code opening the
// report page with the asset chosen.
type qrLabel struct {
	Site, Asset, Name, Class, URL string
	QR                            template.HTML
}

// labelsPage answers GET /sites/{id}/labels: a printable sheet (A4 or
// Letter, ?paper=) of QR codes, one per asset, to stick on each case.
// Scanning one opens /report?asset=site/asset on the host the sheet was
// printed from; a store phone not signed in signs in first and comes back.
func (s *Server) labelsPage(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !c.scope.SeesSite(id) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", id)
	}
	paper := strings.ToLower(r.URL.Query().Get("paper"))
	if paper == "" {
		paper = "a4"
	}
	size, ok := paperSizes[paper]
	if !ok {
		return cloud.FieldError("paper", "want a4 or letter")
	}
	site, err := s.store.Site(r.Context(), id)
	if err != nil {
		return err
	}
	assets, err := s.store.Assets(r.Context(), site.ID)
	if err != nil {
		return err
	}
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	labels := make([]qrLabel, 0, len(assets))
	for _, a := range assets {
		link := (&url.URL{Scheme: scheme, Host: r.Host, Path: "/report", RawQuery: url.Values{"asset": {a.Site + "/" + a.ID}}.Encode()}).String()
		qr, err := qrSVG(link)
		if err != nil {
			return fmt.Errorf("labels: %s: %w", a.ID, err)
		}
		labels = append(labels, qrLabel{Site: a.Site, Asset: a.ID, Name: a.Name, Class: a.Class, URL: link, QR: qr})
	}
	s.render(w, http.StatusOK, "labels.html", map[string]any{"Title": "Labels · " + site.ID, "Who": c.actor(), "Site": site,
		"Labels": labels, "Paper": size, "PaperKey": paper, "Per": size.Across * size.Down})
	return nil
}

// qrSVG draws a QR code of text as an inline SVG: one path of its dark
// modules, crisp at any print size, and no image the page's
// Content-Security-Policy would have to allow.
func qrSVG(text string) (template.HTML, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap() // with its quiet zone
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`, len(bm), len(bm))
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			run := x
			for run < len(row) && row[run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run-x, run-x)
			x = run
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil //nolint:gosec // numbers only
}
