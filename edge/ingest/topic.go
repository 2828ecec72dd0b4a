package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultTemplates are the topic layouts Frostline documents: one metric per
// topic, and one object of values per asset.
var DefaultTemplates = []string{
	"sites/{site}/assets/{asset}/{metric}",
	"sites/{site}/assets/{asset}",
}

// Template maps a broker's topic layout onto site, asset and metric. Each
// topic level is a literal, "+" (any value, ignored), or one of the
// placeholders {site}, {asset} and {metric}. A template without {site}
// takes its site from Site; one without {metric} expects per-asset payloads
// ({"values": {...}}).
type Template struct {
	Pattern string
	Site    string

	levels []string
	site   int // index of {site} in levels, or -1
	asset  int
	metric int
}

// ParseTemplate checks a pattern and returns its Template.
func ParseTemplate(pattern, site string) (Template, error) {
	t, err := parseLevels(pattern, site)
	if err == nil && t.asset < 0 {
		err = fmt.Errorf("ingest: topic template %q: needs {asset}", pattern)
	}
	if err == nil {
		err = t.needSite()
	}
	return t, err
}

// needSite refuses a template without {site} and without a fixed site.
func (t *Template) needSite() error {
	if t.site < 0 && t.Site == "" {
		return fmt.Errorf("ingest: topic template %q: needs {site} or a fixed site", t.Pattern)
	}
	return nil
}

// parseLevels reads a pattern's levels.
func parseLevels(pattern, site string) (Template, error) {
	t := Template{Pattern: pattern, Site: site, site: -1, asset: -1, metric: -1}
	if pattern == "" {
		return t, errors.New("ingest: empty topic template")
	}
	t.levels = strings.Split(pattern, "/")
	for i, l := range t.levels {
		var slot *int
		switch l {
		case "{site}":
			slot = &t.site
		case "{asset}":
			slot = &t.asset
		case "{metric}":
			slot = &t.metric
		case "+":
			continue
		default:
			if l == "" || strings.ContainsAny(l, "+#{}") {
				return t, fmt.Errorf("ingest: topic template %q: level %d (%q) must be a literal, +, {site}, {asset} or {metric}", pattern, i+1, l)
			}
			continue
		}
		if *slot >= 0 {
			return t, fmt.Errorf("ingest: topic template %q: %s given twice", pattern, l)
		}
		*slot = i
	}
	return t, nil
}

// Filter is the MQTT subscription filter for the template.
func (t *Template) Filter() string {
	f := make([]string, len(t.levels))
	for i, l := range t.levels {
		if strings.HasPrefix(l, "{") {
			l = "+"
		}
		f[i] = l
	}
	return strings.Join(f, "/")
}

// match splits topic by the template. metric is "" when the template has
// no {metric}.
func (t *Template) match(topic string) (site, asset, metric string, ok bool) {
	site = t.Site
	for i, l := range t.levels {
		var level string
		var more bool
		level, topic, more = strings.Cut(topic, "/")
		if more != (i < len(t.levels)-1) || level == "" {
			return "", "", "", false
		}
		switch {
		case i == t.site:
			site = level
		case i == t.asset:
			asset = level
		case i == t.metric:
			metric = level
		case l != "+" && l != level:
			return "", "", "", false
		}
	}
	return site, asset, metric, true
}
