package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Site is a store and the assets Frostline watches in it, as written in a
// site file. The same file feeds `frostline rules replay`, the edge agent
// and the cloud's asset register.
type Site struct {
	ID       string    `yaml:"site" json:"site"`
	Name     string    `yaml:"name" json:"name,omitempty"`
	Timezone string    `yaml:"timezone" json:"timezone,omitempty"`
	Location *Location `yaml:"location" json:"location,omitempty"`
	// Hours are the store's opening hours by weekday ("mon": "07:00-22:00";
	// "sun": "closed"). Rules that say suppress-when-closed use them; a
	// site without hours is always open.
	Hours  map[string]string `yaml:"hours" json:"hours,omitempty"`
	Region string            `yaml:"region" json:"region,omitempty"`
	Assets []Asset           `yaml:"assets" json:"assets"`

	Fields positions `yaml:"-" json:"-"` // where each field was written
	loc    *time.Location
	// open[weekday] = [open, close) minutes after local midnight; open < 0
	// means closed all day.
	open [7][2]int
}

// Location is a site's position, for geofencing and distance ranking.
type Location struct {
	Lat float64 `yaml:"lat" json:"lat"`
	Lon float64 `yaml:"lon" json:"lon"`
}

// Asset is one piece of equipment at a site.
type Asset struct {
	ID    string `yaml:"id" json:"id"`
	Class string `yaml:"class" json:"class"`
	Name  string `yaml:"name" json:"name,omitempty"`
	// Interval is how often the asset's sensors are expected to report;
	// missing-data rules judge silence against it. Zero: the rule's own.
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// Overrides adjust or disable rules for this asset, by rule id.
	Overrides map[string]Override `yaml:"overrides" json:"overrides,omitempty"`
	// ServedBy names the asset of the same site that serves this one: the
	// compressor rack or condensing unit that cools a case, the rooftop
	// unit of a zone. When several assets served by one piece of
	// equipment lose cooling together, the engine raises one incident on
	// that equipment instead of one per asset.
	ServedBy string `yaml:"served_by" json:"served_by,omitempty"`

	Make           string  `yaml:"make" json:"make,omitempty"`
	Model          string  `yaml:"model" json:"model,omitempty"`
	Serial         string  `yaml:"serial" json:"serial,omitempty"`
	Refrigerant    string  `yaml:"refrigerant" json:"refrigerant,omitempty"`
	InstalledOn    string  `yaml:"installed_on" json:"installed_on,omitempty"`
	ReplacementUSD float64 `yaml:"replacement_cost" json:"replacement_cost,omitempty"`

	// Fields is where each field was written, while ParseSite checks
	// them; nil in a parsed site.
	Fields positions `yaml:"-" json:"-"`
}

// Override changes one rule for one asset.
type Override struct {
	Disabled bool     `yaml:"disabled" json:"disabled,omitempty"`
	Above    *float64 `yaml:"above" json:"above,omitempty"`
	Below    *float64 `yaml:"below" json:"below,omitempty"`
	Clear    *float64 `yaml:"clear" json:"clear,omitempty"`
	For      Duration `yaml:"for" json:"for,omitempty"`
	Priority string   `yaml:"priority" json:"priority,omitempty"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseSite decodes and validates a site file. Every problem is reported,
// each as "file:line:col: message".
func ParseSite(filename string, data []byte) (*Site, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: filename, Pos: Pos{1, 1}, Msg: "empty site file (want site: and assets:)"}}
		}
		return nil, yamlSyntaxError(filename, err)
	}
	var s Site
	var derrs []decodeError
	decodeNode(&root, reflect.ValueOf(&s).Elem(), &derrs)
	var errs Errors
	for _, e := range derrs {
		errs = append(errs, &Error{File: filename, Pos: e.Pos, Msg: e.Msg})
	}
	top := Pos{1, 1}
	bad := func(p Pos, format string, args ...any) {
		errs = append(errs, &Error{File: filename, Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
	if s.ID == "" {
		bad(top, "site: missing site id")
	} else if !idPattern.MatchString(s.ID) {
		bad(s.Fields.of("site", top), "site: %q is not a valid id (letters, digits, _ -)", s.ID)
	}
	s.loc = time.UTC
	if s.Timezone != "" {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			bad(s.Fields.of("timezone", top), "timezone: unknown time zone %q", s.Timezone)
		} else {
			s.loc = loc
		}
	}
	if s.Location != nil && (s.Location.Lat < -90 || s.Location.Lat > 90 || s.Location.Lon < -180 || s.Location.Lon > 180) {
		bad(s.Fields.of("location", top), "location: lat must be in [-90, 90] and lon in [-180, 180]")
	}
	for d := range s.open {
		s.open[d] = [2]int{0, 24 * 60}
	}
	// "daily" first, so that a named day overrides it.
	days := sortedKeys(s.Hours)
	slices.SortStableFunc(days, func(a, b string) int {
		return cmpBool(a == "daily" || a == "all", b == "daily" || b == "all")
	})
	for _, day := range days {
		if err := s.setHours(day, s.Hours[day]); err != nil {
			bad(s.Fields.of("hours", top), "hours: %s: %v", day, err)
		}
	}
	if len(s.Assets) == 0 {
		bad(s.Fields.of("assets", top), "assets: a site needs at least one asset")
	}
	seen := map[string]bool{}
	for i := range s.Assets {
		a := &s.Assets[i]
		p := a.Fields.of("id", s.Fields.of("assets", top))
		if a.ID == "" || !idPattern.MatchString(a.ID) {
			bad(p, "assets[%d]: id %q is missing or not a valid id", i, a.ID)
		} else if seen[a.ID] {
			bad(p, "assets[%d]: asset id %q given twice", i, a.ID)
		}
		seen[a.ID] = true
		if !known(AssetClasses, a.Class) {
			bad(p, "assets[%d] (%s): unknown class %q (want one of %s)", i, a.ID, a.Class, strings.Join(AssetClasses, ", "))
		}
		for _, id := range sortedKeys(a.Overrides) {
			if o := a.Overrides[id]; o.Priority != "" && !known(Priorities, o.Priority) {
				bad(p, "assets[%d] (%s): overrides.%s.priority: %q is not P1-P4", i, a.ID, id, o.Priority)
			}
		}
	}
	for i := range s.Assets {
		a := &s.Assets[i]
		if a.ServedBy == "" {
			continue
		}
		p := a.Fields.of("served_by", a.Fields.of("id", s.Fields.of("assets", top)))
		switch {
		case a.ServedBy == a.ID:
			bad(p, "assets[%d] (%s): served_by: an asset cannot serve itself", i, a.ID)
		case !seen[a.ServedBy]:
			bad(p, "assets[%d] (%s): served_by: no asset %q in this site", i, a.ID, a.ServedBy)
		}
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	// Positions only serve this parse's errors: an agent keeps its sites
	// for life, and a store of 1,390 assets held half a megabyte of them.
	for i := range s.Assets {
		s.Assets[i].Fields = nil
	}
	return &s, nil
}

func (s *Site) setHours(day, span string) error {
	var days []int
	switch day {
	case "daily", "all":
		days = []int{0, 1, 2, 3, 4, 5, 6}
	default:
		i := slices.Index(weekdays, strings.ToLower(day))
		if i < 0 {
			return errors.New("want a weekday (mon..sun) or daily")
		}
		days = []int{i}
	}
	open, close := -1, -1
	if span != "closed" {
		a, b, ok := strings.Cut(span, "-")
		o, err1 := clockMinutes(a)
		c, err2 := clockMinutes(b)
		if !ok || err1 != nil || err2 != nil || c <= o {
			return fmt.Errorf("want HH:MM-HH:MM or closed, got %q", span)
		}
		open, close = o, c
	}
	for _, d := range days {
		s.open[d] = [2]int{open, close}
	}
	return nil
}

func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// TimeLocation returns the site's time zone (UTC when none is set).
func (s *Site) TimeLocation() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// Closed reports whether the store is closed at t, by its opening hours in
// its own time zone.
func (s *Site) Closed(t time.Time) bool {
	if len(s.Hours) == 0 {
		return false
	}
	lt := t.In(s.TimeLocation())
	span := s.open[lt.Weekday()]
	m := lt.Hour()*60 + lt.Minute()
	return span[0] < 0 || m < span[0] || m >= span[1]
}

// Asset returns the asset with the given id, or nil.
func (s *Site) Asset(id string) *Asset {
	for i := range s.Assets {
		if s.Assets[i].ID == id {
			return &s.Assets[i]
		}
	}
	return nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}
