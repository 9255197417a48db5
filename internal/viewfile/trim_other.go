//go:build !linux

package viewfile

// dropPages does nothing where madvise is not called.
func dropPages(uintptr, int64) error { return nil }
