package score

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Incident is an incident as scoring sees it: where and when it opened and
// what it said.
type Incident struct {
	Site    string
	Asset   string
	At      time.Time
	Problem string // "" when the line has none
	Rule    string
}

// Opening events: a line whose event (or type, or kind) is one of these
// opens an incident; any other is skipped.
var openings = []string{"opened", "open", "raised", "incident.opened"}

// ErrNotIncident is ParseIncident's answer for a line that is not an
// opening: blank, not a JSON object, or another event. Such lines are
// skipped, not counted as unreadable.
var ErrNotIncident = errors.New("score: not an incident opening")

// ParseIncident reads one line of incidents (JSON lines, as `frostline
// rules replay` writes them; other tools' field names are taken too: type
// or kind for event, ts, opened_at or time for at). It returns
// ErrNotIncident for a line to skip, and another error for a line that
// opens an incident but cannot be read (the report's unreadable lines).
func ParseIncident(line []byte) (Incident, error) {
	line = bytes.TrimFunc(line, isPySpace)
	if len(line) == 0 || line[0] != '{' {
		return Incident{}, ErrNotIncident
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var e map[string]any
	if err := dec.Decode(&e); err != nil {
		return Incident{}, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Incident{}, errors.New("not JSON: data after the object")
	}
	ev, ok := first(e, "event", "type", "kind").(string)
	if !ok || !isOpening(strings.ToLower(ev)) {
		return Incident{}, ErrNotIncident
	}
	at := first(e, "at", "ts", "opened_at", "time")
	if at == nil {
		return Incident{}, errors.New("no time (at, ts, opened_at or time)")
	}
	s, ok := at.(string)
	if !ok {
		return Incident{}, fmt.Errorf("time %v is not a string", at)
	}
	t, err := ParseTime(s)
	if err != nil {
		return Incident{}, fmt.Errorf("time: %w", err)
	}
	inc := Incident{At: t, Site: str(e["site"]), Asset: str(e["asset"]), Problem: str(e["problem"]), Rule: str(e["rule"])}
	// The Python scorer groups false positives by any truthy problem or
	// rule, strings or not; a number or an object there is kept as its
	// JSON text so that it still counts under a name.
	if inc.Problem == "" && truthy(e["problem"]) {
		inc.Problem = jsonText(e["problem"])
	}
	if inc.Rule == "" && truthy(e["rule"]) {
		inc.Rule = jsonText(e["rule"])
	}
	return inc, nil
}

func isOpening(ev string) bool {
	for _, o := range openings {
		if ev == o {
			return true
		}
	}
	return false
}

// first is the first of the keys whose value is truthy in Python's sense,
// as `e.get(a) or e.get(b)` picks it; nil when none is.
func first(e map[string]any, keys ...string) any {
	for _, k := range keys {
		if v := e[k]; truthy(v) {
			return v
		}
	}
	return nil
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, _ := strconv.ParseFloat(string(v), 64) // out of range: ±Inf or 0, which is what Python makes of it
		return f != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// isPySpace is Python's str.isspace for one rune, which str.strip trims:
// Go's unicode.IsSpace and the four ASCII separators.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// ReadIncidents reads incident lines and returns the openings, in order,
// and how many opening lines could not be read. Lines end at \n, \r\n or
// \r, as Python's text files do. Only an error reading r is returned.
func ReadIncidents(r io.Reader) (incs []Incident, unreadable int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		for part := range bytes.SplitSeq(line, []byte{'\r'}) {
			inc, err := ParseIncident(part)
			switch {
			case err == nil:
				incs = append(incs, inc)
			case !errors.Is(err, ErrNotIncident):
				unreadable++
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return incs, unreadable, nil
			}
			return incs, unreadable, fmt.Errorf("incidents: %w", rerr)
		}
	}
}
