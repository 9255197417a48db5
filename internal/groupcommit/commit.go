package groupcommit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// blockSuffix names the file store's message blocks: <index>.blk.
const blockSuffix = ".blk"

// change is one thing the watcher saw happen in a watched directory.
type change struct {
	watch int
	name  string // the entry; empty for the directory itself
	entry bool   // the entry appeared, went or was replaced, not just written
	ended bool   // the watch ended: the directory was removed or moved away
}

// work is what a round syncs for one stream.
type work struct {
	s       *stream
	files   []string // paths to sync: written or replaced blocks
	dirs    []string // directories to sync after the files, beyond s.dir
	entries bool     // s.dir changed: sync it too
}

// collect reads the changes queued so far and returns, per stream, what
// to sync. c.mu is held.
func (c *Committer) collect() ([]work, error) {
	overflow, err := c.w.read(c.apply)
	if err != nil {
		return nil, fmt.Errorf("groupcommit: read changes: %w", err)
	}
	var out []work
	for name, s := range c.streams {
		if overflow {
			s.fresh = true // some changes were lost: sync everything
		}
		if s.watch < 0 {
			// Its directory went (a purge swaps it for a new one): watch
			// the one at its path now, if there is one.
			if err := c.addWatch(s); errors.Is(err, fs.ErrNotExist) {
				delete(c.streams, name)
				continue
			} else if err != nil {
				return nil, err
			}
		}
		w, err := c.take(s)
		if err != nil {
			return nil, err
		}
		if len(w.files) > 0 || len(w.dirs) > 0 || w.entries {
			out = append(out, w)
		}
	}
	return out, nil
}

// apply records one change. c.mu is held.
func (c *Committer) apply(ch change) {
	s := c.byWatch[ch.watch]
	if s == nil {
		return
	}
	if ch.ended {
		delete(c.byWatch, ch.watch)
		c.w.remove(ch.watch)
		if s.watch == ch.watch {
			s.watch = -1
		}
		return
	}
	if !strings.HasSuffix(ch.name, blockSuffix) {
		return // index.db and temporary files: the blocks are what recovery trusts
	}
	s.dirty[ch.name] = struct{}{}
	s.entries = s.entries || ch.entry
}

// take returns what s needs synced and clears it. A stream seen for the
// first time (or after lost changes) has all its blocks, its meta files
// and every directory up to the root synced, so that a stream created
// since the last fsync is found after a power loss. c.mu is held.
func (c *Committer) take(s *stream) (work, error) {
	w := work{s: s, entries: s.entries}
	if s.fresh {
		names, err := blocks(s.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // gone: nothing to sync

			return w, fmt.Errorf("groupcommit: stream %s: %w", s.name, err)
		}
		for _, name := range names {
			s.dirty[name] = struct{}{}
		}
		streamDir := filepath.Dir(s.dir)
		w.files = append(w.files, filepath.Join(streamDir, "meta.inf"), filepath.Join(streamDir, "meta.sum"))
		w.dirs = append([]string{streamDir}, ancestors(c.root)...)
		w.entries = true
	}
	for name := range s.dirty {
		w.files = append(w.files, filepath.Join(s.dir, name))
		delete(s.dirty, name)
	}
	s.fresh, s.entries = false, false
	return w, nil
}

// blocks lists the block files in dir.
func blocks(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), blockSuffix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// ancestors returns dir and every directory above it.
func ancestors(dir string) []string {
	dirs := []string{dir}
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return dirs
		}
		dirs, dir = append(dirs, parent), parent
	}
}

// syncAll syncs the round's work: each stream's files, then its
// directories. A file or directory gone meanwhile (a block emptied and
// removed, a stream deleted) needs nothing.
func (c *Committer) syncAll(work []work) error {
	for _, w := range work {
		entries := w.entries
		for _, path := range w.files {
			ino, err := syncFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				delete(w.s.inodes, path)
				entries = true
				continue
			}
			if err != nil {
				return fmt.Errorf("groupcommit: sync %s: %w", path, err)
			}
			if w.s.inodes[path] != ino {
				// Not the file synced last time: a new block, or one the
				// server rewrote and renamed over the old one.
				w.s.inodes[path] = ino
				entries = true
			}
		}
		dirs := w.dirs
		if entries {
			dirs = append([]string{w.s.dir}, dirs...)
		}
		for _, dir := range dirs {
			if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("groupcommit: sync %s: %w", dir, err)
			}
		}
	}
	return nil
}
