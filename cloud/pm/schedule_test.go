package pm

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
)

func TestParseScheduleGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/schedules/good_*.json")
	if len(files) == 0 {
		t.Fatal("no good schedules")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseSchedule(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		roundTrip(t, s)
	}
}

// TestParseScheduleBad: each bad schedule is refused with the field at
// fault named.
func TestParseScheduleBad(t *testing.T) {
	f, err := os.Open("testdata/schedules/bad.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		field, js, ok := strings.Cut(sc.Text(), " | ")
		if !ok || strings.HasPrefix(field, "#") {
			continue
		}
		n++
		_, err := ParseSchedule([]byte(js))
		var ce *cloud.Error
		if !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: got %v (field %q), want an error on %s", js, err, fieldOf(ce), field)
		}
	}
	if n < 10 {
		t.Fatalf("only %d cases", n)
	}
}

func fieldOf(e *cloud.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func roundTrip(t *testing.T, s *Schedule) {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSchedule(data)
	if err != nil {
		t.Fatalf("a valid schedule does not parse back: %v\n%s", err, data)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Fatalf("round trip changed the schedule:\n%s\n%s", data, again)
	}
	if back.Rule() == nil && back.RRule != "" {
		t.Fatal("the rule was not compiled")
	}
}

// FuzzParseSchedule: any JSON either is refused or is a schedule that
// survives a round trip and whose next occurrences can be computed.
func FuzzParseSchedule(f *testing.F) {
	files, _ := filepath.Glob("testdata/schedules/good_*.json")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	if bad, err := os.ReadFile("testdata/schedules/bad.txt"); err == nil {
		for _, line := range strings.Split(string(bad), "\n") {
			if _, js, ok := strings.Cut(line, " | "); ok {
				f.Add([]byte(js))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchedule(data)
		if err != nil {
			return
		}
		roundTrip(t, s)
	})
}
