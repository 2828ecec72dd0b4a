//go:build !linux

package e2e

import "syscall"

// sysProcAttr: elsewhere the cleanups alone stop the children.
func sysProcAttr() *syscall.SysProcAttr { return nil }
