// Package replay runs recorded readings through the rules engine: it reads
// the CSV format `ts,site,asset,metric,value` (optionally gzip-compressed)
// fast and without allocating per line, feeds an Engine, and sums up what
// happened. `frostline rules replay` and the rule backtests are built on it.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/frostline/frostline/rules"
)

// The years a reading may carry: beyond them a timestamp is a corrupt
// one (and outside what nanosecond event time can hold).
const minYear, maxYear = 1900, 2200

// Header is the first line a readings file must have.
const Header = "ts,site,asset,metric,value"

// LineError is a line of the input that could not be used.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads readings from CSV. Bad lines are returned as *LineError and
// reading can go on past them.
type Reader struct {
	br     *bufio.Reader
	line   int
	intern map[string]string
	gz     *gzip.Reader
}

// Errors a line can have.
var (
	ErrFields    = errors.New("want 5 fields: ts,site,asset,metric,value")
	ErrTime      = errors.New("bad timestamp (want RFC 3339)")
	ErrMetric    = errors.New("unknown metric")
	ErrValue     = errors.New("bad value (want a number or a word such as cool)")
	ErrEmptyName = errors.New("empty site or asset")
	ErrTimeRange = errors.New("timestamp out of range (1900-2200)")
)

// NewReader reads the header and prepares to read readings. Gzip input is
// recognised by its magic number.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	rd := &Reader{intern: make(map[string]string)}
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("replay: gzip: %w", err)
		}
		rd.gz = gz
		br = bufio.NewReaderSize(gz, 256<<10)
	}
	rd.br = br
	line, err := rd.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("replay: empty input (want a header line: " + Header + ")")
		}
		return nil, fmt.Errorf("replay: %w", err)
	}
	if string(bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))) != Header {
		return nil, fmt.Errorf("replay: line 1: header is %q, want %q", truncate(line, 80), Header)
	}
	return rd, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Line returns the number of the line read last.
func (r *Reader) Line() int { return r.line }

func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// An absurdly long line: skip the rest of it and report it.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.br.ReadSlice('\n')
		}
		r.line++
		return nil, &LineError{Line: r.line, Err: errors.New("line too long")}
	}
	if len(line) == 0 && err != nil {
		return nil, err
	}
	r.line++
	line = bytes.TrimRight(line, "\r\n")
	return line, nil
}

// Next reads the next reading into rd. It returns io.EOF at the end, a
// *LineError for a line it could not use (call Next again to go on), or
// another error when the input itself fails.
func (r *Reader) Next(rd *rules.Reading) error {
	for {
		line, err := r.readLine()
		if err != nil {
			if le := (*LineError)(nil); errors.As(err, &le) {
				return le
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("replay: line %d: %w", r.line+1, err)
		}
		if len(line) == 0 {
			continue
		}
		if err := r.parse(line, rd); err != nil {
			return &LineError{Line: r.line, Err: err}
		}
		return nil
	}
}

func (r *Reader) parse(line []byte, rd *rules.Reading) error {
	var f [5][]byte
	n := 0
	for n < 4 {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return ErrFields
		}
		f[n], line = line[:i], line[i+1:]
		n++
	}
	if bytes.IndexByte(line, ',') >= 0 {
		return ErrFields
	}
	f[4] = line
	t, ok := parseTime(f[0])
	if !ok {
		return ErrTime
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return fmt.Errorf("%w: year %d", ErrTimeRange, y)
	}
	if len(f[1]) == 0 || len(f[2]) == 0 {
		return ErrEmptyName
	}
	m := rules.LookupMetric(string(f[3]))
	if m == rules.NoMetric {
		return fmt.Errorf("%w %q", ErrMetric, f[3])
	}
	v, err := strconv.ParseFloat(string(f[4]), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		var ok bool
		if v, ok = rules.WordValue(m, string(f[4])); !ok {
			return ErrValue
		}
	}
	rd.At, rd.Site, rd.Asset, rd.Metric, rd.Value = t, r.name(f[1]), r.name(f[2]), m, v
	return nil
}

// name returns an interned string for b, so that a million lines naming
// the same few assets allocate nothing.
func (r *Reader) name(b []byte) string {
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.intern) < 1<<16 {
		r.intern[s] = s
	}
	return s
}

// parseTime reads RFC 3339 quickly for the common UTC form
// 2006-01-02T15:04:05[.frac]Z and falls back to the library otherwise.
func parseTime(b []byte) (time.Time, bool) {
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && (b[10] == 'T' || b[10] == ' ') && b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		y, ok1 := digits(b[0:4])
		mo, ok2 := digits(b[5:7])
		d, ok3 := digits(b[8:10])
		h, ok4 := digits(b[11:13])
		mi, ok5 := digits(b[14:16])
		s, ok6 := digits(b[17:19])
		ns := 0
		ok7 := true
		if len(b) > 20 {
			frac := b[19 : len(b)-1]
			if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
				ok7 = false
			} else {
				v, ok := digits(frac[1:])
				for i := len(frac) - 1; i < 9; i++ {
					v *= 10
				}
				ns, ok7 = v, ok
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
			if t.Day() == d { // rejects Feb 30 and the like
				return t, true
			}
			return time.Time{}, false
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

// Close releases the decompressor, if any.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}
