package viewfile

import "syscall"

// dropPages tells the kernel that the process no longer needs the size
// bytes mapped at addr (MADV_DONTNEED): for a shared file mapping, the
// pages leave the resident set and stay in the page cache.
func dropPages(addr uintptr, size int64) error {
	if size <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
