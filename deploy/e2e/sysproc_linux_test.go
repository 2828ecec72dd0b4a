package e2e

import "syscall"

// sysProcAttr kills a child when the test process dies (a test timeout
// panics it), so that no server outlives the test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
