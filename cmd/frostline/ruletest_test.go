package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRulesTest runs `frostline rules test` on the runner's own testdata,
// named from here through "..", as an operator would name files relative
// to the shell's folder.
func TestRulesTest(t *testing.T) {
	const td = "../../rules/ruletest/testdata/"
	tests := []struct {
		args   []string
		status int      // 0 for success
		stdout []string // lines that must appear
		stderr []string
	}{
		{[]string{td + "good/basic.test.yaml"}, 0,
			[]string{"PASS    " + td + "good/basic.test.yaml:13: a warm box", "7 tests in 1 files: 7 passed, 0 failed"}, nil},
		{[]string{td + "good"}, 1,
			[]string{"FAIL    " + td + "good/failing.test.yaml:9: expected at the wrong time", "PENDING", "FIXED", "13 tests in 2 files"}, nil},
		{[]string{td + "good/basic.test.yaml", td + "bad/refs.test.yaml"}, 1,
			[]string{"1 files with errors"}, []string{td + `bad/refs.test.yaml:14:16: rule: no rule "temp-hihg" in the rule files`}},
		{[]string{td + "rules"}, 1, nil, []string{"no test files"}},
		{nil, 2, nil, []string{"usage: frostline rules test [-v] PATH..."}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"rules", "test"}, tt.args...), nil, &stdout, &stderr)
		status := 0
		var ex exitError
		if errors.As(err, &ex) {
			status = int(ex)
		} else if err != nil {
			t.Errorf("rules test %v: %v", tt.args, err)
			continue
		}
		if status != tt.status {
			t.Errorf("rules test %v: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, status, tt.status, &stdout, &stderr)
		}
		for _, want := range tt.stdout {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("rules test %v: stdout lacks %q:\n%s", tt.args, want, &stdout)
			}
		}
		for _, want := range tt.stderr {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("rules test %v: stderr lacks %q:\n%s", tt.args, want, &stderr)
			}
		}
	}
}
