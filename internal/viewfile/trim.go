package viewfile

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trimEvery is how often the view's pages leave the process's resident set.
const trimEvery = 10 * time.Second

// The view is memory-mapped, and every page bbolt reads stays in the
// process's resident set until the file is mapped again. A view written
// in time order reuses freed pages all over the file, so within minutes
// nearly the whole file is resident: 1.5 GB of RSS with a million tasks,
// though the kernel could drop every one of those pages (they are clean
// page cache). trimmer tells the kernel, every trimEvery, that the process
// no longer needs the pages it mapped: they stay in the page cache, and a
// page read again comes back with a minor fault.
type trimmer struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startTrimmer(db *bolt.DB) *trimmer {
	t := &trimmer{stop: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(trimEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_ = trim(db)
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

func (t *trimmer) close() {
	close(t.stop)
	t.wg.Wait()
}

// trim drops the view's pages from the resident set. The read transaction
// holds bbolt's map in place while it runs.
func trim(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		return dropPages(db.Info().Data, tx.Size())
	})
}
