package groupcommit

import "time"

// watcher tells the committer which files of the watched directories
// changed. Its changes must be queued before the write that made them
// returns, so that a round that reads them after a publish was
// acknowledged sees that publish's write.
type watcher interface {
	// add starts watching a directory's entries and returns the watch's id.
	add(dir string) (int, error)
	// remove stops a watch (errors are of no interest: it may be gone).
	remove(id int)
	// wait blocks until wake is called or, with changes, until changes
	// are queued, for at most timeout (no limit when negative). It
	// reports whether it was woken and whether changes are queued.
	wait(changes bool, timeout time.Duration) (woken, changed bool, err error)
	// wake ends a wait, or the next one.
	wake()
	// read passes every change queued so far to fn and reports whether
	// the queue overflowed (changes were lost).
	read(fn func(change)) (overflow bool, err error)
	close() error
}
