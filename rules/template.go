package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rule titles and summaries are templates in a small subset of Go's
// text/template syntax, parsed and run by the code in this file. Every
// template this package accepts renders exactly as text/template would
// render it on the same summaryData.
//
// Why not text/template itself: it looks methods up by name at run time
// (reflect's MethodByName), and a binary that can do that keeps every
// exported method of every type it links, since the linker cannot tell
// which one a template might name. In the edge agent that was 3.7 MB of a
// 14.8 MB binary, nearly all of it resident.
//
// The subset:
//   - text, copied as is; {{/* comments */}}; the trim markers {{- and -}}
//   - {{.Field}}: a field of summaryData, looked up in tmplFields (no
//     reflection), printed as fmt.Sprint prints it
//   - literals: "strings", `raw strings`, decimal numbers (-3, 0.1, 1e3)
//   - calls: {{f1 .Value}}, {{dur .Duration}}, {{printf "%.0f" (mul100 .Value)}};
//     an argument is a field, a literal or a parenthesised call
//   - {{if x}} ... {{else if y}} ... {{else}} ... {{end}}, nested freely,
//     where x is any value (true when not zero or empty), typically a
//     comparison: eq, ne, lt, le, gt, ge with two operands
//
// Anything else (pipelines, variables, range, with, define, other
// functions) is a parse error that names the construct and its place in
// the template. Types are checked at parse time, as text/template checks
// them when it runs: a template that parses cannot fail when it renders.

// ttype is the type of a template value.
type ttype uint8

const (
	tAny      ttype = iota // an argument of printf or a comparison: any type
	tString                // string
	tFloat                 // float64
	tInt                   // int: Count, or an integer literal where any type goes
	tDuration              // time.Duration
	tBool                  // the result of a comparison
)

func (t ttype) String() string {
	switch t {
	case tString:
		return "string"
	case tFloat:
		return "float64"
	case tInt:
		return "int"
	case tDuration:
		return "time.Duration"
	case tBool:
		return "bool"
	}
	return "any"
}

// tval is a template value; t says which of the other fields holds it.
type tval struct {
	t ttype
	b bool
	i int64 // tInt, tDuration
	f float64
	s string
}

// tfield is one field of summaryData a template may name.
type tfield struct {
	name string
	t    ttype
	get  func(*summaryData) tval
}

// tmplFields lists every field of summaryData (a test checks that it
// does), in declaration order.
var tmplFields = [...]tfield{
	{"Site", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Site} }},
	{"SiteName", tString, func(d *summaryData) tval { return tval{t: tString, s: d.SiteName} }},
	{"Asset", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Asset} }},
	{"AssetName", tString, func(d *summaryData) tval { return tval{t: tString, s: d.AssetName} }},
	{"Class", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Class} }},
	{"Metric", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Metric} }},
	{"Rule", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Rule} }},
	{"Priority", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Priority} }},
	{"Value", tFloat, func(d *summaryData) tval { return tval{t: tFloat, f: d.Value} }},
	{"Peak", tFloat, func(d *summaryData) tval { return tval{t: tFloat, f: d.Peak} }},
	{"Limit", tFloat, func(d *summaryData) tval { return tval{t: tFloat, f: d.Limit} }},
	{"For", tDuration, func(d *summaryData) tval { return tval{t: tDuration, i: int64(d.For)} }},
	{"Duration", tDuration, func(d *summaryData) tval { return tval{t: tDuration, i: int64(d.Duration)} }},
	{"OutOfRange", tDuration, func(d *summaryData) tval { return tval{t: tDuration, i: int64(d.OutOfRange)} }},
	{"Window", tDuration, func(d *summaryData) tval { return tval{t: tDuration, i: int64(d.Window)} }},
	{"HoursToLimit", tFloat, func(d *summaryData) tval { return tval{t: tFloat, f: d.HoursToLimit} }},
	{"Count", tInt, func(d *summaryData) tval { return tval{t: tInt, i: int64(d.Count)} }},
	{"Affected", tString, func(d *summaryData) tval { return tval{t: tString, s: d.Affected} }},
}

// tfunc is a function a template may call.
type tfunc uint8

const (
	fnNone tfunc = iota
	fnF1
	fnMul100
	fnDur
	fnPrintf
	fnEq
	fnNe
	fnLt
	fnLe
	fnGt
	fnGe
)

var tmplFuncs = [...]struct {
	name string
	fn   tfunc
}{
	{"f1", fnF1}, {"dur", fnDur}, {"mul100", fnMul100}, {"printf", fnPrintf},
	{"eq", fnEq}, {"ne", fnNe}, {"lt", fnLt}, {"le", fnLe}, {"gt", fnGt}, {"ge", fnGe},
}

func (f tfunc) String() string {
	for _, x := range tmplFuncs {
		if x.fn == f {
			return x.name
		}
	}
	return "?"
}

// texpr is a value in a template: a constant, a field or a call.
type texpr struct {
	op    texprOp
	t     ttype // the value's type; for exNumber, decided by where it is used
	val   tval  // exConst
	num   number
	field *tfield
	fn    tfunc
	args  []*texpr
	src   string // the source text, for error messages
	pos   int    // offset in the template, for error messages
}

type texprOp uint8

const (
	exConst  texprOp = iota + 1
	exNumber         // a number literal not yet given a type
	exField
	exCall
)

// number is a number literal as text/template's parse.NumberNode reads
// it, for the decimal forms the subset accepts.
type number struct {
	isInt     bool // an integer value that fits in int64 (1, 1.0, 1e3)
	i         int64
	f         float64
	floatText bool // written with . or e: a float64 where any type goes
}

// tnode is a piece of a template: text, an action that prints a value, or
// an if.
type tnode struct {
	text      string
	expr      *texpr // {{expr}}
	cond      *texpr // {{if cond}}then{{else}}els{{end}}
	then, els []tnode
}

// ruleTemplate is a parsed rule title or summary.
type ruleTemplate struct {
	nodes []tnode
}

// templateError is a problem in a template, at a line and column (in
// characters, from 1) of the template's text.
type templateError struct {
	line, col int
	msg       string
}

func (e *templateError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

// errTemplateEval is an internal inconsistency found while rendering; it
// cannot happen for a template that parsed, but render falls back to the
// raw text rather than trusting that.
var errTemplateEval = errors.New("rules: template evaluation failed")

// maxTemplateDepth bounds the nesting of ifs and parentheses.
const maxTemplateDepth = 50

// parseTemplate parses a rule title or summary.
func parseTemplate(text string) (*ruleTemplate, error) {
	p := &tparser{src: text}
	nodes, term, err := p.list()
	if err != nil {
		return nil, err
	}
	switch term.kind {
	case termEnd:
		return nil, p.errorf(term.pos, "{{end}} without {{if}}")
	case termElse, termElseIf:
		return nil, p.errorf(term.pos, "{{else}} without {{if}}")
	}
	return &ruleTemplate{nodes: nodes}, nil
}

type tparser struct {
	src   string
	pos   int // the next byte to read
	depth int
}

func (p *tparser) errorf(pos int, format string, args ...any) error {
	pos = min(max(pos, 0), len(p.src))
	before := p.src[:pos]
	line := 1 + strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return &templateError{line: line, col: 1 + utf8.RuneCountInString(before), msg: fmt.Sprintf(format, args...)}
}

type termKind uint8

const (
	termEOF termKind = iota
	termEnd
	termElse
	termElseIf
)

type terminator struct {
	kind termKind
	pos  int
}

// list parses text and actions up to the end of the template or an
// {{else}}, {{else if ...}} or {{end}}, which it returns as term.
func (p *tparser) list() (nodes []tnode, term terminator, err error) {
	for {
		rest := p.src[p.pos:]
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				nodes = append(nodes, tnode{text: rest})
			}
			p.pos = len(p.src)
			return nodes, terminator{kind: termEOF}, nil
		}
		start := p.pos + i
		text := rest[:i]
		p.pos = start + 2
		if hasLeftTrim(p.src[p.pos:]) {
			text = strings.TrimRight(text, spaceChars)
			p.pos += 2
		}
		if text != "" {
			nodes = append(nodes, tnode{text: text})
		}
		if strings.HasPrefix(p.src[p.pos:], "/*") {
			if err := p.comment(start); err != nil {
				return nil, term, err
			}
			continue
		}
		save := p.pos
		tok, _, err := p.next(start)
		if err != nil {
			return nil, term, err
		}
		if tok.kind == tkIdent {
			switch tok.val {
			case "if":
				n, err := p.ifNode(start)
				if err != nil {
					return nil, term, err
				}
				nodes = append(nodes, n)
				continue
			case "end":
				if err := p.closeAction(start, "end"); err != nil {
					return nil, term, err
				}
				return nodes, terminator{termEnd, start}, nil
			case "else":
				save := p.pos
				tok, _, err := p.next(start)
				if err != nil {
					return nil, term, err
				}
				if tok.kind == tkIdent && tok.val == "if" {
					return nodes, terminator{termElseIf, start}, nil
				}
				p.pos = save
				if err := p.closeAction(start, "else"); err != nil {
					return nil, term, err
				}
				return nodes, terminator{termElse, start}, nil
			case "range", "with", "define", "template", "block", "break", "continue":
				return nil, term, p.errorf(tok.pos, "{{%s}} is not supported in rule templates (only if, else and end)", tok.val)
			}
		}
		p.pos = save
		e, err := p.command(start, tkDelim)
		if err != nil {
			return nil, term, err
		}
		if err := p.typed(e, tAny, "", 0); err != nil {
			return nil, term, err
		}
		nodes = append(nodes, tnode{expr: e})
	}
}

// closeAction reads the }} that must follow an {{end}} or {{else}}.
func (p *tparser) closeAction(start int, word string) error {
	tok, _, err := p.next(start)
	if err != nil {
		return err
	}
	if tok.kind != tkDelim {
		return p.errorf(tok.pos, "unexpected %s in {{%s}}", tok.describe(), word)
	}
	return nil
}

// ifNode parses the rest of an {{if ...}} that starts at start, up to and
// including its {{end}}. {{else if c}} is read as {{else}}{{if c}}, the
// inner if taking the outer one's {{end}}.
func (p *tparser) ifNode(start int) (tnode, error) {
	if p.depth++; p.depth > maxTemplateDepth {
		return tnode{}, p.errorf(start, "ifs nested more than %d deep", maxTemplateDepth)
	}
	defer func() { p.depth-- }()
	cond, err := p.command(start, tkDelim)
	if err != nil {
		return tnode{}, err
	}
	if err := p.typed(cond, tAny, "", 0); err != nil {
		return tnode{}, err
	}
	n := tnode{cond: cond}
	var term terminator
	if n.then, term, err = p.list(); err != nil {
		return tnode{}, err
	}
	switch term.kind {
	case termEOF:
		return tnode{}, p.errorf(start, "{{if}} without {{end}}")
	case termElseIf:
		inner, err := p.ifNode(term.pos)
		if err != nil {
			return tnode{}, err
		}
		n.els = []tnode{inner}
	case termElse:
		if n.els, term, err = p.list(); err != nil {
			return tnode{}, err
		}
		switch term.kind {
		case termEOF:
			return tnode{}, p.errorf(start, "{{if}} without {{end}}")
		case termElse, termElseIf:
			return tnode{}, p.errorf(term.pos, "a second {{else}} in one {{if}}")
		}
	}
	return n, nil
}

// comment skips a {{/* comment */}} whose {{ is at start; p.pos is at /*.
func (p *tparser) comment(start int) error {
	end := strings.Index(p.src[p.pos+2:], "*/")
	if end < 0 {
		return p.errorf(start, "unclosed comment")
	}
	p.pos += 2 + end + 2
	if ok, _ := p.atRightDelim(); !ok {
		return p.errorf(p.pos, "comment ends before closing delimiter")
	}
	p.closeDelim()
	return nil
}

const spaceChars = " \t\r\n"

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// hasLeftTrim reports whether s, just after a {{, starts with a trim
// marker: a dash and a space.
func hasLeftTrim(s string) bool { return len(s) >= 2 && s[0] == '-' && isSpace(s[1]) }

// atRightDelim reports whether the input is at }} or, with a trim
// marker, at " -}}".
func (p *tparser) atRightDelim() (delim, trim bool) {
	s := p.src[p.pos:]
	if len(s) >= 4 && isSpace(s[0]) && s[1] == '-' && s[2] == '}' && s[3] == '}' {
		return true, true
	}
	return strings.HasPrefix(s, "}}"), false
}

// closeDelim reads the }} atRightDelim found, and after a -}} the space
// that follows it.
func (p *tparser) closeDelim() {
	_, trim := p.atRightDelim()
	if !trim {
		p.pos += 2
		return
	}
	p.pos += 4
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

type tokKind uint8

const (
	tkDelim tokKind = iota + 1
	tkLParen
	tkRParen
	tkField
	tkIdent
	tkNumber
	tkString
)

type ttok struct {
	kind tokKind
	pos  int
	val  string // the field or function name, the string's value
	src  string
	num  number
}

func (t ttok) describe() string {
	switch t.kind {
	case tkDelim:
		return "}}"
	case tkIdent:
		return strconv.Quote(t.val)
	}
	return t.src
}

// next reads the next token inside the action that starts at start, and
// whether space came before it.
func (p *tparser) next(start int) (tok ttok, spaced bool, err error) {
	for {
		if ok, _ := p.atRightDelim(); ok {
			tok = ttok{kind: tkDelim, pos: p.pos, src: "}}"}
			p.closeDelim()
			return tok, spaced, nil
		}
		if p.pos >= len(p.src) {
			return tok, spaced, p.errorf(start, "unclosed action")
		}
		if !isSpace(p.src[p.pos]) {
			break
		}
		p.pos++
		spaced = true
	}
	s := p.src[p.pos:]
	tok.pos = p.pos
	c := s[0]
	n := 0
	switch {
	case c == '(':
		tok.kind, n = tkLParen, 1
	case c == ')':
		tok.kind, n = tkRParen, 1
	case c == '.' && len(s) > 1 && isIdentStart(s[1:]):
		n = 1 + identLen(s[1:])
		tok.kind, tok.val = tkField, s[1:n]
	case c == '.':
		return tok, spaced, p.errorf(p.pos, "{{.}} is not supported in rule templates: name a field, such as .AssetName")
	case c == '"' || c == '`':
		n, err = p.stringLit(&tok)
		if err != nil {
			return tok, spaced, err
		}
	case c == '+' || c == '-' || ('0' <= c && c <= '9'):
		n, err = p.numberLit(&tok)
		if err != nil {
			return tok, spaced, err
		}
	case isIdentStart(s):
		n = identLen(s)
		tok.kind, tok.val = tkIdent, s[:n]
	case c == '|':
		return tok, spaced, p.errorf(p.pos, "pipelines (|) are not supported in rule templates: write (f x) as an argument")
	case c == '$':
		return tok, spaced, p.errorf(p.pos, "variables ($) are not supported in rule templates")
	case c == '\'':
		return tok, spaced, p.errorf(p.pos, "character constants are not supported in rule templates")
	default:
		r, _ := utf8.DecodeRuneInString(s)
		return tok, spaced, p.errorf(p.pos, "unexpected %q in action", r)
	}
	tok.src = s[:n]
	p.pos += n
	if (tok.kind == tkIdent || tok.kind == tkField) && !p.atTerminator() {
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		return tok, spaced, p.errorf(p.pos, "unexpected %q after %s", r, tok.src)
	}
	return tok, spaced, nil
}

// atTerminator reports whether the input can follow a name: as in
// text/template's lexer, a space, the end, a delimiter or punctuation.
func (p *tparser) atTerminator() bool {
	if p.pos >= len(p.src) {
		return true
	}
	switch c := p.src[p.pos]; {
	case isSpace(c), c == '.', c == ',', c == '|', c == ':', c == ')', c == '(':
		return true
	}
	return strings.HasPrefix(p.src[p.pos:], "}}")
}

func isIdentStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

func identLen(s string) int {
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return i
		}
	}
	return len(s)
}

// stringLit reads a "quoted" or `raw` string at p.pos into tok.
func (p *tparser) stringLit(tok *ttok) (int, error) {
	s := p.src[p.pos:]
	n := 0
	if s[0] == '`' {
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return 0, p.errorf(p.pos, "unterminated raw quoted string")
		}
		n = end + 2
	} else {
		for i := 1; ; i++ {
			if i >= len(s) || s[i] == '\n' {
				return 0, p.errorf(p.pos, "unterminated quoted string")
			}
			if s[i] == '\\' && i+1 < len(s) && s[i+1] != '\n' {
				i++
				continue
			}
			if s[i] == '"' {
				n = i + 1
				break
			}
		}
	}
	v, err := strconv.Unquote(s[:n])
	if err != nil {
		return 0, p.errorf(p.pos, "bad string %s: %v", s[:n], err)
	}
	tok.kind, tok.val = tkString, v
	return n, nil
}

// numberLit reads a decimal number at p.pos into tok: an optional sign,
// digits, an optional fraction and an optional exponent. text/template
// also reads hex, octal, binary, underscores, characters and imaginary
// numbers; the subset does not.
func (p *tparser) numberLit(tok *ttok) (int, error) {
	s := p.src[p.pos:]
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - j
	}
	intStart := i
	nInt := digits()
	floatText := false
	ok := nInt > 0
	if i < len(s) && s[i] == '.' {
		i++
		floatText = true
		ok = ok && digits() > 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		floatText = true
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ok = ok && digits() > 0
	}
	text := s[:i]
	if !ok || (i < len(s) && (s[i] == '.' || s[i] == '_' || s[i] == '\'' || isIdentStart(s[i:]) || ('0' <= s[i] && s[i] <= '9'))) {
		end := i
		for end < len(s) && !isSpace(s[end]) && s[end] != ')' && s[end] != '}' {
			end++
		}
		return 0, p.errorf(p.pos, "bad number %s (the subset reads decimal numbers such as 3, -0.5, 1e3)", s[:end])
	}
	var num number
	if !floatText {
		if nInt > 1 && s[intStart] == '0' {
			return 0, p.errorf(p.pos, "bad number %s: a leading 0 (text/template would read it as octal)", text)
		}
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return 0, p.errorf(p.pos, "integer overflow: %s", text)
		}
		num = number{isInt: true, i: v, f: float64(v)}
	} else {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return 0, p.errorf(p.pos, "bad number %s: out of range", text)
		}
		num = number{f: f, floatText: true}
		// As parse.NumberNode does: an integral float is an integer too.
		if float64(int64(f)) == f {
			num.isInt, num.i = true, int64(f)
		}
	}
	tok.kind, tok.num = tkNumber, num
	return i, nil
}

// command parses one value: a function call, or a single field, literal
// or parenthesised command, ending at the token end (}} or a closing
// parenthesis). start is where the action began.
func (p *tparser) command(start int, end tokKind) (*texpr, error) {
	cmdPos := p.pos
	var ops []*texpr
	var first ttok
	for {
		tok, spaced, err := p.next(start)
		if err != nil {
			return nil, err
		}
		if tok.kind == tkDelim || tok.kind == tkRParen {
			if tok.kind != end {
				if end == tkRParen {
					return nil, p.errorf(cmdPos-1, "unclosed (")
				}
				return nil, p.errorf(tok.pos, "unexpected ) in action")
			}
			if len(ops) == 0 {
				if end == tkRParen {
					return nil, p.errorf(tok.pos, "empty ()")
				}
				return nil, p.errorf(start, "empty action {{}}")
			}
			break
		}
		if len(ops) == 0 {
			first = tok
		} else if !spaced {
			return nil, p.errorf(tok.pos, "unexpected %s right after %s: separate arguments with spaces", tok.src, ops[len(ops)-1].src)
		}
		e, err := p.operand(tok, start, len(ops) == 0)
		if err != nil {
			return nil, err
		}
		ops = append(ops, e)
	}
	if first.kind == tkIdent {
		return p.call(ops[0], ops[1:])
	}
	if len(ops) > 1 {
		return nil, p.errorf(ops[1].pos, "%s is not a function: it takes no arguments", ops[0].src)
	}
	return ops[0], nil
}

// operand turns a token into an expression; a function name becomes an
// exCall without arguments, which only command accepts, and only first.
func (p *tparser) operand(tok ttok, start int, first bool) (*texpr, error) {
	switch tok.kind {
	case tkField:
		for i := range tmplFields {
			if tmplFields[i].name == tok.val {
				return &texpr{op: exField, t: tmplFields[i].t, field: &tmplFields[i], src: tok.src, pos: tok.pos}, nil
			}
		}
		return nil, p.errorf(tok.pos, "unknown field .%s (fields: %s)", tok.val, fieldNames())
	case tkString:
		return &texpr{op: exConst, t: tString, val: tval{t: tString, s: tok.val}, src: tok.src, pos: tok.pos}, nil
	case tkNumber:
		return &texpr{op: exNumber, num: tok.num, src: tok.src, pos: tok.pos}, nil
	case tkLParen:
		if p.depth++; p.depth > maxTemplateDepth {
			return nil, p.errorf(tok.pos, "parentheses nested more than %d deep", maxTemplateDepth)
		}
		e, err := p.command(start, tkRParen)
		p.depth--
		if err != nil {
			return nil, err
		}
		e.src, e.pos = p.src[tok.pos:p.pos], tok.pos
		return e, nil
	case tkIdent:
		switch tok.val {
		case "true", "false", "nil":
			return nil, p.errorf(tok.pos, "%s is not supported in rule templates", tok.val)
		case "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue":
			return nil, p.errorf(tok.pos, "unexpected keyword %q", tok.val)
		}
		fn := fnNone
		for _, f := range tmplFuncs {
			if f.name == tok.val {
				fn = f.fn
			}
		}
		if fn == fnNone {
			return nil, p.errorf(tok.pos, "unknown function %q (functions: %s)", tok.val, funcNames())
		}
		if !first {
			return nil, p.errorf(tok.pos, "function %s as an argument needs parentheses: (%s ...)", tok.val, tok.val)
		}
		return &texpr{op: exCall, fn: fn, src: tok.src, pos: tok.pos}, nil
	}
	return nil, p.errorf(tok.pos, "unexpected %s", tok.describe())
}

func fieldNames() string {
	names := make([]string, len(tmplFields))
	for i, f := range tmplFields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func funcNames() string {
	names := make([]string, len(tmplFuncs))
	for i, f := range tmplFuncs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// call checks a function's arguments and sets the result type.
func (p *tparser) call(fe *texpr, args []*texpr) (*texpr, error) {
	name := fe.fn.String()
	want := func(n int) error {
		if len(args) != n {
			s := "s"
			if n == 1 {
				s = ""
			}
			return p.errorf(fe.pos, "%s takes %d argument%s, got %d", name, n, s, len(args))
		}
		return nil
	}
	var err error
	switch fe.fn {
	case fnF1, fnMul100:
		if err = want(1); err == nil {
			err = p.typed(args[0], tFloat, name, 1)
		}
		fe.t = tFloat
		if fe.fn == fnF1 {
			fe.t = tString
		}
	case fnDur:
		if err = want(1); err == nil {
			err = p.typed(args[0], tDuration, name, 1)
		}
		fe.t = tString
	case fnPrintf:
		if len(args) == 0 {
			return nil, p.errorf(fe.pos, "printf needs a format")
		}
		err = p.typed(args[0], tString, name, 1)
		for i := 1; i < len(args) && err == nil; i++ {
			err = p.typed(args[i], tAny, name, i+1)
		}
		fe.t = tString
	default: // comparisons
		if err = want(2); err == nil {
			err = p.typed(args[0], tAny, name, 1)
		}
		if err == nil {
			err = p.typed(args[1], tAny, name, 2)
		}
		if err == nil {
			k1, k2 := cmpKind(args[0].t), cmpKind(args[1].t)
			switch {
			case k1 != k2:
				hint := ""
				if k1 == tFloat && args[1].op == exConst && args[1].t == tInt || k2 == tFloat && args[0].op == exConst && args[0].t == tInt {
					hint = " (write the number with a decimal point, such as 0.0)"
				}
				err = p.errorf(fe.pos, "%s: incompatible types for comparison: %s is %s, %s is %s%s",
					name, args[0].src, args[0].t, args[1].src, args[1].t, hint)
			case k1 == tBool && fe.fn != fnEq && fe.fn != fnNe:
				err = p.errorf(fe.pos, "%s: invalid type for comparison: bool", name)
			}
		}
		fe.t = tBool
	}
	if err != nil {
		return nil, err
	}
	fe.args = args
	return fe, nil
}

// cmpKind is the kind text/template's comparisons compare a type as.
func cmpKind(t ttype) ttype {
	if t == tDuration {
		return tInt
	}
	return t
}

// typed checks that e can be argument n of fn (or, for n == 0, printed or
// tested by an if) where a value of type want goes, and gives a number
// literal its type there, as text/template would.
func (p *tparser) typed(e *texpr, want ttype, fn string, n int) error {
	if e.op == exCall && e.t == tAny {
		return p.errorf(e.pos, "%s needs arguments", e.src)
	}
	if e.op == exNumber {
		num := e.num
		switch want {
		case tAny:
			if num.floatText {
				e.val = tval{t: tFloat, f: num.f}
			} else {
				e.val = tval{t: tInt, i: num.i}
			}
		case tFloat:
			e.val = tval{t: tFloat, f: num.f}
		case tDuration:
			if !num.isInt {
				return p.errorf(e.pos, "wrong type for %s: want an integer (a time.Duration in nanoseconds), got %s", fn, e.src)
			}
			e.val = tval{t: tDuration, i: num.i}
		default:
			return p.errorf(e.pos, "wrong type for %s argument %d: want %s, got number %s", fn, n, want, e.src)
		}
		e.op, e.t = exConst, e.val.t
		return nil
	}
	if want != tAny && e.t != want {
		what := "the field"
		if e.op == exCall {
			what = "the call"
		} else if e.op == exConst {
			what = "the literal"
		}
		return p.errorf(e.pos, "wrong type for %s argument %d: want %s, got %s %s (%s)", fn, n, want, what, e.src, e.t)
	}
	return nil
}

// render runs a rule's template on d; with no template, or should it
// fail (it cannot, once parsed, but the incident must still get a
// title), it returns the raw text.
func render(t *ruleTemplate, d *summaryData, raw string) string {
	if t == nil {
		return raw
	}
	var buf [256]byte
	b, err := t.execute(buf[:0], d)
	if err != nil {
		return raw
	}
	return string(b)
}

// execute appends the template's output for d to b.
func (t *ruleTemplate) execute(b []byte, d *summaryData) ([]byte, error) {
	return execList(b, t.nodes, d)
}

func execList(b []byte, nodes []tnode, d *summaryData) ([]byte, error) {
	var err error
	for i := range nodes {
		n := &nodes[i]
		switch {
		case n.cond != nil:
			v := eval(n.cond, d)
			if v.t == tAny {
				return b, errTemplateEval
			}
			if truth(v) {
				b, err = execList(b, n.then, d)
			} else {
				b, err = execList(b, n.els, d)
			}
		case n.expr != nil:
			b, err = appendValue(b, eval(n.expr, d))
		default:
			b = append(b, n.text...)
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendValue prints v as text/template does: as fmt.Sprint would.
func appendValue(b []byte, v tval) ([]byte, error) {
	switch v.t {
	case tString:
		return append(b, v.s...), nil
	case tFloat:
		return fmt.Append(b, v.f), nil
	case tInt:
		return strconv.AppendInt(b, v.i, 10), nil
	case tDuration:
		return append(b, time.Duration(v.i).String()...), nil
	case tBool:
		return strconv.AppendBool(b, v.b), nil
	}
	return b, errTemplateEval
}

// truth is text/template's truth of a value: not zero, not empty.
func truth(v tval) bool {
	switch v.t {
	case tString:
		return v.s != ""
	case tFloat:
		return v.f != 0
	case tInt, tDuration:
		return v.i != 0
	}
	return v.b
}

// eval computes an expression; a value of type tAny means the tree was
// not one parseTemplate makes.
func eval(e *texpr, d *summaryData) tval {
	switch e.op {
	case exConst:
		return e.val
	case exField:
		return e.field.get(d)
	case exCall:
		return evalCall(e, d)
	}
	return tval{}
}

func evalCall(e *texpr, d *summaryData) tval {
	if len(e.args) == 0 {
		return tval{}
	}
	a := eval(e.args[0], d)
	switch e.fn {
	case fnF1:
		if a.t != tFloat {
			return tval{}
		}
		return tval{t: tString, s: strconv.FormatFloat(a.f, 'f', 1, 64)}
	case fnMul100:
		if a.t != tFloat {
			return tval{}
		}
		return tval{t: tFloat, f: a.f * 100}
	case fnDur:
		if a.t != tDuration {
			return tval{}
		}
		return tval{t: tString, s: formatDuration(time.Duration(a.i).Round(time.Minute))}
	case fnPrintf:
		if a.t != tString {
			return tval{}
		}
		args := make([]any, len(e.args)-1)
		for i, x := range e.args[1:] {
			v := eval(x, d)
			switch v.t {
			case tString:
				args[i] = v.s
			case tFloat:
				args[i] = v.f
			case tInt:
				args[i] = int(v.i)
			case tDuration:
				args[i] = time.Duration(v.i)
			case tBool:
				args[i] = v.b
			default:
				return tval{}
			}
		}
		return tval{t: tString, s: fmt.Sprintf(a.s, args...)}
	}
	if len(e.args) != 2 {
		return tval{}
	}
	b := eval(e.args[1], d)
	if cmpKind(a.t) != cmpKind(b.t) || a.t == tAny {
		return tval{}
	}
	var r bool
	switch e.fn {
	case fnEq:
		r = equal(a, b)
	case fnNe:
		r = !equal(a, b)
	case fnLt:
		r = less(a, b)
	case fnLe:
		r = less(a, b) || equal(a, b)
	case fnGt:
		r = !(less(a, b) || equal(a, b))
	case fnGe:
		r = !less(a, b)
	default:
		return tval{}
	}
	return tval{t: tBool, b: r}
}

// equal and less compare two values of the same kind as text/template's
// eq and lt do (le, gt and ge are built from them there too, which
// matters for NaN).
func equal(a, b tval) bool {
	switch a.t {
	case tFloat:
		return a.f == b.f
	case tInt, tDuration:
		return a.i == b.i
	case tString:
		return a.s == b.s
	}
	return a.b == b.b
}

func less(a, b tval) bool {
	switch a.t {
	case tFloat:
		return a.f < b.f
	case tInt, tDuration:
		return a.i < b.i
	case tString:
		return a.s < b.s
	}
	return false
}
