package rules

import "testing"

// TestNewStateEveryKind: every kind Compile accepts has an evaluator, and
// a kind without one is a panic (a bug here), never a silent fallback.
func TestNewStateEveryKind(t *testing.T) {
	for _, k := range Kinds {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("kind %s: %v", k, r)
				}
			}()
			if newState(&compiled{kind: k}) == nil {
				t.Errorf("kind %s: no evaluator", k)
			}
		}()
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("an unknown kind got an evaluator")
		}
	}()
	newState(&compiled{kind: "nope"})
}
