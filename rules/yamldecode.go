package rules

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a YAML source.
type Pos struct{ Line, Col int }

// positions records where each key of a mapping was written, so that
// validation after decoding can point at the offending field. A struct
// that has a field of this type gets it filled by decodeNode.
type positions map[string]Pos

func (p positions) of(key string, fallback Pos) Pos {
	if q, ok := p[key]; ok {
		return q
	}
	return fallback
}

// Duration is a time.Duration written as "90s", "30m", "2h" or "1d".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration compactly ("1h30m", "2d").
func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// MarshalYAML writes the duration the way it is read.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration the way it is read.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ParseDuration reads "90s", "30m", "2h", "1d" or "1d12h".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("bad duration %q (want e.g. 90s, 30m, 2h, 1d)", s)
		}
	}
	d := time.Duration(days)*24*time.Hour + rest
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return Duration(d), nil
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 && d%time.Hour == 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		if d%time.Second == 0 {
			fmt.Fprintf(&b, "%ds", d/time.Second)
		} else {
			b.WriteString(d.String())
		}
	}
	return b.String()
}

var (
	durationType  = reflect.TypeFor[Duration]()
	positionsType = reflect.TypeFor[positions]()
)

// decodeError is one problem found while decoding, with its position.
type decodeError struct {
	Pos
	Msg string
}

// decodeNode fills v from node strictly: unknown keys, wrong kinds and bad
// scalars are all reported with their positions, and decoding goes on past
// them so that every error in a file is found in one pass.
func decodeNode(node *yaml.Node, v reflect.Value, errs *[]decodeError) {
	for node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	pos := Pos{node.Line, node.Column}
	fail := func(format string, args ...any) {
		*errs = append(*errs, decodeError{pos, fmt.Sprintf(format, args...)})
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return // leave the zero value
	}
	if v.Type() == durationType {
		if node.Kind != yaml.ScalarNode {
			fail("want a duration such as 30m")
			return
		}
		d, err := ParseDuration(node.Value)
		if err != nil {
			fail("%v", err)
			return
		}
		v.SetInt(int64(d))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		decodeNode(node, elem.Elem(), errs)
		v.Set(elem)
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			fail("want a mapping of fields")
			return
		}
		decodeStruct(node, v, errs)
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			if node.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
				// A single word where a list is expected: class: walk_in_cooler.
				s := reflect.MakeSlice(v.Type(), 1, 1)
				decodeNode(node, s.Index(0), errs)
				v.Set(s)
				return
			}
			fail("want a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(node.Content), len(node.Content))
		for i, c := range node.Content {
			decodeNode(c, s.Index(i), errs)
		}
		v.Set(s)
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			fail("want a mapping")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(node.Content)/2)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, val := node.Content[i], node.Content[i+1]
			ev := reflect.New(v.Type().Elem()).Elem()
			decodeNode(val, ev, errs)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if node.Kind != yaml.ScalarNode {
			fail("want a single value")
			return
		}
		v.SetString(node.Value)
	case reflect.Float64:
		if node.Kind != yaml.ScalarNode {
			fail("want a number")
			return
		}
		f, err := strconv.ParseFloat(node.Value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			fail("want a number, got %q", node.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Int:
		n, err := strconv.Atoi(node.Value)
		if node.Kind != yaml.ScalarNode || err != nil {
			fail("want a whole number, got %q", node.Value)
			return
		}
		v.SetInt(int64(n))
	case reflect.Bool:
		switch node.Value {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			fail("want true or false, got %q", node.Value)
		}
	default:
		fail("cannot decode into %s", v.Type())
	}
}

func decodeStruct(node *yaml.Node, v reflect.Value, errs *[]decodeError) {
	t := v.Type()
	fields := make(map[string]int, t.NumField())
	posField := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == positionsType {
			posField = i
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = i
	}
	pos := positions{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], node.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			*errs = append(*errs, decodeError{Pos{k.Line, k.Column}, fmt.Sprintf("unknown field %q", k.Value)})
			continue
		}
		if _, dup := pos[k.Value]; dup {
			*errs = append(*errs, decodeError{Pos{k.Line, k.Column}, fmt.Sprintf("field %q given twice", k.Value)})
			continue
		}
		pos[k.Value] = Pos{val.Line, val.Column}
		before := len(*errs)
		decodeNode(val, v.Field(idx), errs)
		for i := before; i < len(*errs); i++ {
			if e := &(*errs)[i]; e.Pos == (Pos{val.Line, val.Column}) {
				e.Msg = k.Value + ": " + e.Msg // name the field its value failed
			}
		}
	}
	if posField >= 0 {
		v.Field(posField).Set(reflect.ValueOf(pos))
	}
}
