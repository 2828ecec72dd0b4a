package replay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/replay"
)

// FuzzReader feeds the CSV reader arbitrary bytes after a valid header.
// Nothing panics, the reader never stops early on a bad line, and the
// counts add up: every non-blank line is a reading or a bad line.
func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/input.csv")
	for _, p := range paths {
		data := readFile(f, p)
		// Seeds are the first lines of each case, after the header (the
		// fuzzer writes it): small seeds keep minimising fast.
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
		f.Add(data[:min(len(data), 1500)])
	}
	f.Add([]byte("2026-07-06T10:00:00Z,s1,a1,air_temp,3\n\n,,,,\n"))
	set, sites := caseRules(f, "testdata/malformed-lines")
	f.Fuzz(func(t *testing.T, body []byte) {
		input := append([]byte(replay.Header+"\n"), body...)
		rd, err := replay.NewReader(bytes.NewReader(input))
		if err != nil {
			t.Fatalf("NewReader refused a valid header: %v", err)
		}
		var good, bad int
		var r rules.Reading
		for {
			err := rd.Next(&r)
			if errors.Is(err, io.EOF) {
				break
			}
			var le *replay.LineError
			switch {
			case errors.As(err, &le):
				bad++
				if le.Line != rd.Line() {
					t.Fatalf("bad line numbered %d, reader at %d", le.Line, rd.Line())
				}
			case err != nil:
				t.Fatalf("input error on in-memory input: %v", err)
			default:
				good++
			}
		}
		if want := nonBlankLines(body); good+bad != want {
			t.Fatalf("%d readings + %d bad lines, want %d lines", good, bad, want)
		}

		// The same through Run and an engine: whatever the engine refuses
		// is a bad line too.
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rd, _ = replay.NewReader(bytes.NewReader(input))
		sum, err := replay.Run(context.Background(), eng, rd, func(*rules.Event) error { return nil }, nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		// A reading far ahead of the rest is held for its series to
		// confirm: it ends up evaluated, dropped as future, or still held
		// when the input ends. So every line is accounted for between
		// these bounds.
		lo := int(sum.Readings+sum.Stats.Future) + sum.BadLines
		hi := int(sum.Readings+sum.Stats.Held) + sum.BadLines
		if lo > good+bad || hi < good+bad || sum.BadLines < bad {
			t.Fatalf("Run: %d readings + %d bad lines; the reader alone: %d + %d", sum.Readings, sum.BadLines, good, bad)
		}
	})
}

// nonBlankLines counts the lines of b that are not empty once their line
// ending is cut, as the reader sees them.
func nonBlankLines(b []byte) int {
	n := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimRight(line, "\r\n")) > 0 {
			n++
		}
	}
	return n
}
