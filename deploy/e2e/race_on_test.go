//go:build race

package e2e

// raceEnabled: the binaries are built as the test is (with -race under
// `make test`), so the build reuses the compiled packages and the race
// detector also watches the real processes.
const raceEnabled = true
