//go:build !linux

package groupcommit

func newWatcher() (watcher, error) { return nil, ErrUnsupported }

func syncFile(string) (uint64, error) { return 0, ErrUnsupported }

func syncDir(string) error { return ErrUnsupported }
