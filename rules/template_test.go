package rules

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

// The rules package renders titles and summaries with its own subset of
// text/template (template.go). These tests hold it to text/template: the
// functions below are the ones rules used to give text/template.
var goTemplateFuncs = template.FuncMap{
	"f1":     func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"mul100": func(v float64) float64 { return v * 100 },
	"dur":    func(d time.Duration) string { return formatDuration(d.Round(time.Minute)) },
}

// goRender renders text with text/template as rules did before.
func goRender(text string, d *summaryData) (string, error) {
	t, err := template.New("t").Funcs(goTemplateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// templateData is a spread of summary data: zero values, typical ones,
// negatives, large and tiny numbers, durations that are not whole minutes.
var templateData = []summaryData{
	{},
	{
		Site: "s1", SiteName: "Store 6950", Asset: "wic1", AssetName: "Walk-in cooler 1", Class: "walk_in_cooler",
		Metric: "air_temp", Rule: "cooler-high", Priority: "P1",
		Value: 7.25, Peak: 9.5, Limit: 5, For: 15 * time.Minute, Duration: 47*time.Minute + 31*time.Second,
		OutOfRange: 2*time.Hour + 30*time.Second, Window: 3 * time.Hour, HoursToLimit: 4.26, Count: 3,
	},
	{
		Site: "é{{.}}", AssetName: "Rack \"A\"", Priority: "P4",
		Value: -18.35, Peak: -0.05, Limit: -20, For: -time.Minute, Duration: 29 * time.Second,
		OutOfRange: 90 * time.Second, Window: 26 * time.Hour, HoursToLimit: 0.1, Count: -2,
	},
	{
		Value: 1e21, Peak: 123456789.125, Limit: 1e-7, For: 1500 * time.Millisecond, Duration: 3*24*time.Hour + time.Nanosecond,
		OutOfRange: math.MaxInt64, Window: math.MinInt64, HoursToLimit: 0.09999, Count: math.MaxInt32,
	},
	{Value: 0.005, Peak: 0.95, Limit: 1, Duration: 24 * time.Hour, HoursToLimit: 0.100001, Count: 1},
	{Value: math.Inf(1), Peak: math.Inf(-1), Limit: math.Copysign(0, -1), HoursToLimit: -3},
}

// extraTemplates exercise every construct of the subset.
var extraTemplates = []string{
	"",
	"plain text, no actions } {",
	"{{.Site}}{{.SiteName}}{{.Asset}}{{.AssetName}}{{.Class}}{{.Metric}}{{.Rule}}{{.Priority}}",
	"{{.Value}} {{.Peak}} {{.Limit}} {{.HoursToLimit}} {{.Count}}",
	"{{.For}} {{.Duration}} {{.OutOfRange}} {{.Window}}",
	"{{f1 .Value}} {{f1 .Peak}} {{f1 .Limit}} {{f1 .HoursToLimit}} {{f1 3}} {{f1 -0.25}} {{f1 1e3}}",
	"{{dur .For}} {{dur .Duration}} {{dur .OutOfRange}} {{dur .Window}} {{dur 60000000000}} {{dur 1e12}}",
	"{{mul100 .Value}} {{f1 (mul100 .Peak)}} {{printf \"%.0f\" (mul100 .Value)}} {{mul100 2}}",
	`{{printf "%.1f" .HoursToLimit}} {{printf "%v|%d|%s" .Duration .Duration .Duration}} {{printf "%d" .Count}}`,
	`{{printf "%v %v %v %v" 1 1.5 1e3 "x"}} {{printf "%s" .Value}} {{printf "%d"}} {{printf "no verbs" 3}}`,
	`{{printf .Site}} {{printf (f1 .Value)}} {{printf "%t %v" (gt .Value 1.0) (eq .Site "s1")}}`,
	`{{printf "%5.2f|%-6s|%x|%q" .Limit .Priority .Count .AssetName}}`,
	"{{if gt .HoursToLimit 0.1}}reaches {{f1 .Limit}} C in {{printf \"%.1f\" .HoursToLimit}} h{{else}}has reached {{f1 .Limit}} C{{end}}",
	"{{if .Site}}site {{.Site}}{{end}}|{{if .Value}}v{{else}}no v{{end}}|{{if .Count}}c{{end}}|{{if .Duration}}d{{end}}",
	"{{if f1 .Value}}s{{end}}{{if printf \"\"}}e{{else}}empty{{end}}{{if 0}}zero{{end}}{{if 0.5}}half{{end}}{{if \"\"}}x{{end}}",
	"{{if lt .Value 0.0}}neg{{else if eq .Value 0.0}}zero{{else if gt .Value 100.0}}big{{else}}pos{{end}}",
	"{{if ge .Count 3}}many{{else if le .Count 0}}none{{else}}few{{end}}",
	"{{if ne .Priority \"P1\"}}not P1{{end}}{{if eq .Priority \"P1\"}}P1{{end}}{{if lt .Site \"s2\"}}<s2{{end}}",
	"{{if gt .Duration 3600000000000}}over an hour{{end}}{{if eq .Count .Duration}}same{{end}}{{if lt .For .Window}}for<window{{end}}",
	"{{if eq (gt .Value 1.0) (gt .Peak 1.0)}}both or neither{{end}}{{if ne (lt .Value .Limit) (gt .Peak .Limit)}}x{{end}}",
	"{{if gt .Value .Limit}}{{if gt .Peak .Value}}nested{{else}}flat{{end}}{{else}}{{if .Count}}n{{end}}{{end}}",
	"{{eq .Site .Asset}} {{lt .Value .Peak}} {{ge .HoursToLimit 0.1}} {{le .Count 3}}",
	"{{3}} {{-3}} {{+3}} {{1.0}} {{1.5}} {{1e3}} {{-0.0}} {{\"lit\"}} {{`raw\n\"x\"`}} {{\"tab\\t\\u00e9\"}}",
	"a  {{- .Site -}}  b\n{{- \" c \" }}\n\t{{ .Count -}}\n\nd",
	"x {{- /* comment */ -}} y {{/* another\nline */}} z",
	"{{ .Site }} {{\t.Value\n}} {{  f1   .Value  }} {{ if  .Site }}y{{ else }}n{{ end }}",
	"{{(f1 .Value)}} {{(.Site)}} {{((mul100 .Value))}} {{f1 ((mul100 (mul100 .Value)))}}",
	"{{if(gt .Value 1.0)}}paren if{{end}}",
	"}} {{.Site}} }}",
	"{{.Value}} %!d {{printf \"%%\"}}",
	"{{if .Site}}{{end}}{{if .Site}}{{else}}{{end}}",
	"{{if .Count}}a{{else if .Value}}b{{else if .Site}}c{{end}}",
}

// packTemplates returns every title and summary in the rule files of this
// package's packs and testdata, by the file they come from.
func packTemplates(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range []string{"packs", "testdata", "replay/testdata", "ruletest/testdata"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var root yaml.Node
			if yaml.Unmarshal(data, &root) != nil {
				return nil // the bad YAML test files
			}
			var walk func(n *yaml.Node)
			walk = func(n *yaml.Node) {
				if n.Kind == yaml.MappingNode {
					for i := 0; i+1 < len(n.Content); i += 2 {
						k, v := n.Content[i], n.Content[i+1]
						if (k.Value == "title" || k.Value == "summary") && v.Kind == yaml.ScalarNode {
							out[v.Value] = p + ":" + strconv.Itoa(v.Line)
						}
					}
				}
				for _, c := range n.Content {
					walk(c)
				}
			}
			walk(&root)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d templates", len(out))
	}
	return out
}

// TestTemplateFieldsCoverSummaryData: the field table names every field
// of summaryData, with its type.
func TestTemplateFieldsCoverSummaryData(t *testing.T) {
	types := map[reflect.Type]ttype{
		reflect.TypeFor[string](): tString, reflect.TypeFor[float64](): tFloat,
		reflect.TypeFor[int](): tInt, reflect.TypeFor[time.Duration](): tDuration,
	}
	st := reflect.TypeFor[summaryData]()
	if st.NumField() != len(tmplFields) {
		t.Fatalf("summaryData has %d fields, tmplFields %d", st.NumField(), len(tmplFields))
	}
	d := templateData[1]
	for i := range st.NumField() {
		f, tf := st.Field(i), tmplFields[i]
		if f.Name != tf.name || types[f.Type] != tf.t {
			t.Errorf("field %d: summaryData has %s %s, tmplFields %s %s", i, f.Name, f.Type, tf.name, tf.t)
		}
		got, err := appendValue(nil, tf.get(&d))
		if want := reflect.ValueOf(d).Field(i); err != nil || string(got) != formatAny(want.Interface()) {
			t.Errorf("field %s reads %q (%v), want %q", f.Name, got, err, formatAny(want.Interface()))
		}
	}
}

func formatAny(v any) string {
	var b strings.Builder
	template.Must(template.New("").Parse("{{.}}")).Execute(&b, v)
	return b.String()
}

// TestTemplateMatchesTextTemplate renders every pack template and the
// extra ones with both engines over the spread of data: where
// text/template renders, the output must be the same byte for byte, and
// the pack templates must render in both.
func TestTemplateMatchesTextTemplate(t *testing.T) {
	cases := map[string]string{}
	for text, where := range packTemplates(t) {
		cases[text] = where
	}
	for i, text := range extraTemplates {
		cases[text] = "extra " + strconv.Itoa(i)
	}
	for text, where := range cases {
		ours, err := parseTemplate(text)
		isPack := !strings.HasPrefix(where, "extra") && !strings.Contains(where, ".bad.")
		if err != nil {
			if _, gerr := goRender(text, &templateData[0]); gerr == nil || isPack {
				t.Errorf("%s: %q: parseTemplate: %v (text/template: %v)", where, text, err, gerr)
			}
			continue
		}
		for i := range templateData {
			d := &templateData[i]
			want, gerr := goRender(text, d)
			if gerr != nil {
				t.Errorf("%s: %q: accepted, but text/template fails on data %d: %v", where, text, i, gerr)
				continue
			}
			got, err := ours.execute(nil, d)
			if err != nil || string(got) != want {
				t.Errorf("%s: %q on data %d:\n got %q (%v)\nwant %q", where, text, i, got, err, want)
			}
			if r := render(ours, d, "raw"); r != want {
				t.Errorf("%s: render = %q, want %q", where, r, want)
			}
		}
	}
}

// TestTemplateErrors: what the subset rejects, and what it says.
func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"{{.Foo}}", `1:3: unknown field .Foo (fields: Site, SiteName,`},
		{"{{.Assetname}}", "unknown field .Assetname"},
		{"{{upper .Site}}", `1:3: unknown function "upper" (functions: f1, dur, mul100, printf,`},
		{"{{f2 .Value}} C", `unknown function "f2"`},
		{"{{f1 .Site}}", "1:6: wrong type for f1 argument 1: want float64, got the field .Site (string)"},
		{"{{f1 .Count}}", "wrong type for f1 argument 1: want float64, got the field .Count (int)"},
		{"{{f1 .Duration}}", "want float64, got the field .Duration (time.Duration)"},
		{"{{dur .Value}}", "wrong type for dur argument 1: want time.Duration, got the field .Value (float64)"},
		{"{{dur 1.5}}", "wrong type for dur: want an integer"},
		{`{{f1 "3"}}`, `wrong type for f1 argument 1: want float64, got the literal "3" (string)`},
		{"{{f1 (f1 .Value)}}", "want float64, got the call (f1 .Value) (string)"},
		{"{{printf .Value}}", "wrong type for printf argument 1: want string, got the field .Value (float64)"},
		{"{{printf 3}}", "wrong type for printf argument 1: want string, got number 3"},
		{"{{printf}}", "printf needs a format"},
		{"{{f1}}", "f1 takes 1 argument, got 0"},
		{"{{f1 .Value .Peak}}", "f1 takes 1 argument, got 2"},
		{"{{mul100}}", "mul100 takes 1 argument, got 0"},
		{"{{gt .Value}}", "gt takes 2 arguments, got 1"},
		{"{{eq .Site .Asset .Rule}}", "eq takes 2 arguments, got 3"},
		{"{{if gt .HoursToLimit 0}}x{{end}}", "gt: incompatible types for comparison: .HoursToLimit is float64, 0 is int (write the number with a decimal point"},
		{"{{if eq .Site 1}}x{{end}}", "incompatible types for comparison: .Site is string, 1 is int"},
		{"{{if lt (gt .Value 1.0) (gt .Peak 1.0)}}x{{end}}", "lt: invalid type for comparison: bool"},
		{"{{.AssetName", "1:1: unclosed action"},
		{"ok {{.AssetName }", "1:17: unexpected '}' in action"},
		{"ok {{.AssetName ", "1:4: unclosed action"},
		{"{{f1 (mul100 .Value}}", "unclosed ("},
		{"{{f1 .Value)}}", "unexpected ) in action"},
		{"{{()}}", "empty ()"},
		{"{{}}", "empty action {{}}"},
		{"{{ -}}", "empty action {{}}"},
		{"{{end}}", "1:1: {{end}} without {{if}}"},
		{"a {{else}} b", "1:3: {{else}} without {{if}}"},
		{"x\n{{if .Site}}open", "2:1: {{if}} without {{end}}"},
		{"{{if .Site}}a{{else}}b", "{{if}} without {{end}}"},
		{"{{if .Site}}a{{else}}b{{else}}c{{end}}", "1:23: a second {{else}} in one {{if}}"},
		{"{{if}}x{{end}}", "empty action {{}}"},
		{"{{end .Site}}", `unexpected .Site in {{end}}`},
		{"{{range .Site}}x{{end}}", "{{range}} is not supported in rule templates"},
		{"{{with .Site}}x{{end}}", "{{with}} is not supported"},
		{`{{template "x"}}`, "{{template}} is not supported"},
		{`{{define "x"}}y{{end}}`, "{{define}} is not supported"},
		{"{{.Value | f1}}", "pipelines (|) are not supported"},
		{"{{$x := .Value}}", "variables ($) are not supported"},
		{"{{$.Site}}", "variables ($) are not supported"},
		{"{{.}}", "{{.}} is not supported in rule templates: name a field"},
		{"{{.Site.Name}}", "unexpected .Name right after .Site"},
		{"{{f1(.Value)}}", "unexpected ( right after f1"},
		{"{{.Site .Asset}}", ".Site is not a function: it takes no arguments"},
		{"{{printf \"%s\" f1 .Value}}", "function f1 as an argument needs parentheses"},
		{"{{if true}}x{{end}}", "true is not supported"},
		{"{{0x10}}", "bad number 0x10"},
		{"{{010}}", "bad number 010: a leading 0"},
		{"{{1_000}}", "bad number 1_000"},
		{"{{1e999}}", "bad number 1e999: out of range"},
		{"{{99999999999999999999}}", "integer overflow"},
		{"{{'a'}}", "character constants are not supported"},
		{`{{"abc}}`, "unterminated quoted string"},
		{"{{`abc}}", "unterminated raw quoted string"},
		{`{{"\q"}}`, `bad string "\q"`},
		{"{{/* x }}", "unclosed comment"},
		{"{{/* x */ .Site}}", "comment ends before closing delimiter"},
		{"{{.Site, .Asset}}", `unexpected ',' in action`},
		{"ü\n ü{{.Nope}}", "2:5: unknown field .Nope"},
		{strings.Repeat("{{if .Site}}", 60) + strings.Repeat("{{end}}", 60), "ifs nested more than 50 deep"},
		{"{{f1 " + strings.Repeat("(", 60) + ".Value" + strings.Repeat(")", 60) + "}}", "parentheses nested more than 50 deep"},
	} {
		_, err := parseTemplate(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseTemplate(%q) = %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

// TestRenderFallsBackToRawText: no template, or a tree parseTemplate
// would never make, renders as the raw text rather than failing.
func TestRenderFallsBackToRawText(t *testing.T) {
	d := &templateData[1]
	if got := render(nil, d, "raw {{x}}"); got != "raw {{x}}" {
		t.Errorf("render(nil) = %q", got)
	}
	broken := &ruleTemplate{nodes: []tnode{{text: "a"}, {expr: &texpr{op: exCall, fn: fnF1}}}}
	if got := render(broken, d, "raw"); got != "raw" {
		t.Errorf("render(broken) = %q, want the raw text", got)
	}
	broken = &ruleTemplate{nodes: []tnode{{cond: &texpr{op: exCall, fn: fnGt, args: []*texpr{
		{op: exConst, val: tval{t: tString, s: "x"}}, {op: exConst, val: tval{t: tFloat}},
	}}}}}
	if got := render(broken, d, "raw"); got != "raw" {
		t.Errorf("render(broken comparison) = %q, want the raw text", got)
	}
}

// FuzzTemplate parses arbitrary text. Whatever the input, no panic; a
// template the subset accepts renders on every sample summary, and
// text/template accepts it too and renders the same bytes.
func FuzzTemplate(f *testing.F) {
	for text := range packTemplates(f) {
		f.Add(text)
	}
	for _, text := range extraTemplates {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ours, err := parseTemplate(text)
		if err != nil {
			var te *templateError
			if !asTemplateError(err, &te) || te.line < 1 || te.col < 1 {
				t.Fatalf("parseTemplate(%q): error without a position: %v", text, err)
			}
			return
		}
		for i := range templateData {
			d := &templateData[i]
			got, err := ours.execute(nil, d)
			if err != nil {
				t.Fatalf("%q on data %d: %v", text, i, err)
			}
			want, gerr := goRender(text, d)
			if gerr != nil {
				t.Fatalf("%q: the subset accepts it, text/template fails on data %d: %v", text, i, gerr)
			}
			if string(got) != want {
				t.Fatalf("%q on data %d:\n got %q\nwant %q", text, i, got, want)
			}
		}
	})
}

func asTemplateError(err error, te **templateError) bool {
	e, ok := err.(*templateError)
	*te = e
	return ok
}

// BenchmarkRender is the cost of one incident's summary, the default
// pack's longest, with the subset and with text/template.
func BenchmarkRender(b *testing.B) {
	const text = "Air temperature is rising; {{if gt .HoursToLimit 0.1}}at this rate it reaches {{f1 .Limit}} C in {{printf \"%.1f\" .HoursToLimit}} h{{else}}it has reached {{f1 .Limit}} C{{end}}."
	d := &templateData[1]
	b.Run("subset", func(b *testing.B) {
		t, err := parseTemplate(text)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			render(t, d, text)
		}
	})
	b.Run("text-template", func(b *testing.B) {
		t := template.Must(template.New("t").Funcs(goTemplateFuncs).Parse(text))
		b.ReportAllocs()
		for b.Loop() {
			var s strings.Builder
			t.Execute(&s, d)
			_ = s.String()
		}
	})
}
