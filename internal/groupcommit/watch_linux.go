package groupcommit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// inotify watches directories with inotify(7). The kernel queues an event
// in the writing system call itself, so a write has its event queued
// before it returns. Identical consecutive events are merged, so a block
// written a thousand times between two rounds is one event.
type inotify struct {
	fd  int // the inotify instance, non-blocking
	efd int // an eventfd that ends a wait
	buf []byte
}

const watchMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

func newWatcher() (watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("groupcommit: inotify: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("groupcommit: eventfd: %w", err)
	}
	return &inotify{fd: fd, efd: wake, buf: make([]byte, 64<<10)}, nil
}

func (w *inotify) add(dir string) (int, error) {
	return unix.InotifyAddWatch(w.fd, dir, watchMask)
}

func (w *inotify) remove(id int) { _, _ = unix.InotifyRmWatch(w.fd, uint32(id)) }

func (w *inotify) wait(changes bool, timeout time.Duration) (woken, changed bool, err error) {
	fds := []unix.PollFd{{Fd: int32(w.efd), Events: unix.POLLIN}, {Fd: int32(w.fd), Events: unix.POLLIN}}
	if !changes {
		fds = fds[:1]
	}
	ms := -1
	if timeout >= 0 {
		ms = int(timeout.Milliseconds())
	}
	for {
		_, err = unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue // a timeout restarts in full: a longer linger is harmless
		}
		if err != nil {
			return false, false, err
		}
		break
	}
	if woken = fds[0].Revents&unix.POLLIN != 0; woken {
		var b [8]byte
		_, _ = unix.Read(w.efd, b[:]) // resets the counter
	}
	return woken, changes && fds[1].Revents&unix.POLLIN != 0, nil
}

func (w *inotify) wake() {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	_, _ = unix.Write(w.efd, b[:])
}

func (w *inotify) read(fn func(change)) (bool, error) {
	overflow := false
	for {
		n, err := unix.Read(w.fd, w.buf)
		if errors.Is(err, unix.EAGAIN) {
			return overflow, nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return overflow, err
		}
		if parseEvents(w.buf[:n], fn) {
			overflow = true
		}
	}
}

// parseEvents passes the events in buf to fn and reports whether one said
// the queue overflowed.
func parseEvents(buf []byte, fn func(change)) (overflow bool) {
	for len(buf) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(buf[0:]))
		mask := binary.NativeEndian.Uint32(buf[4:])
		size := int(binary.NativeEndian.Uint32(buf[12:]))
		end := unix.SizeofInotifyEvent + size
		if end > len(buf) {
			return overflow
		}
		name := buf[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		buf = buf[end:]
		if mask&unix.IN_Q_OVERFLOW != 0 {
			overflow = true
			continue
		}
		fn(change{
			watch: int(wd),
			name:  string(name),
			entry: mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0,
			ended: mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0,
		})
	}
	return overflow
}

func (w *inotify) close() error {
	return errors.Join(unix.Close(w.fd), unix.Close(w.efd))
}

// syncFile flushes a file's data (and the size that finds it) to disk,
// and returns its inode.
func syncFile(path string) (uint64, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, unix.Fdatasync(fd)
}

// syncDir flushes a directory's entries to disk.
func syncDir(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}
