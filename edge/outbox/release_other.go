//go:build !linux

package outbox

// releaseMapped does nothing off Linux.
func releaseMapped(uintptr, int64) error { return nil }
