package outbox

import "golang.org/x/sys/unix"

// releaseMapped tells the kernel that this process no longer needs the
// pages of [addr, addr+size) mapped: for a shared file mapping the data
// stays in the file and the page cache, and the next read maps it again
// (a minor fault).
func releaseMapped(addr uintptr, size int64) error {
	if size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
