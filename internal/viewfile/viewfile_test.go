package viewfile

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func put(t *testing.T, v *View) {
	t.Helper()
	if err := v.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
}

// crash closes the file but not the view, as if the process died.
func crash(v *View) {
	v.trimmer.close()
	_ = v.DB.Close()
}

func has(t *testing.T, v *View) bool {
	t.Helper()
	found := false
	_ = v.View(func(tx *bolt.Tx) error {
		found = tx.Bucket([]byte("b")) != nil
		return nil
	})
	return found
}

func TestViewSurvivesCleanCloseAndProcessCrash(t *testing.T) {
	if bootID() == "" {
		t.Skip("no boot id on this system")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "view.db")
	v, err := Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	put(t, v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".open"); !os.IsNotExist(err) {
		t.Fatal("the marker outlived a clean close")
	}

	// A process crash: the marker stays, with this boot's id; the data is kept.
	v, _ = Open(path, quiet)
	put(t, v)
	crash(v)
	v, _ = Open(path, quiet)
	if !has(t, v) {
		t.Fatal("a process crash lost the view")
	}
	crash(v)

	// A machine crash: the marker holds another boot id; the view is rebuilt.
	if err := os.WriteFile(path+".open", []byte("another-boot"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, _ = Open(path, quiet)
	defer v.Close()
	if has(t, v) {
		t.Fatal("after a machine crash the view was trusted")
	}
}

// TestTrimKeepsTheData drops the view's pages from memory over and over
// while transactions write and grow the file: every value is still there.
func TestTrimKeepsTheData(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := Open(filepath.Join(t.TempDir(), "view.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	done := make(chan struct{})
	trimmed := make(chan error, 1)
	go func() {
		for {
			if err := trim(v.DB); err != nil {
				trimmed <- err
				return
			}
			select {
			case <-done:
				trimmed <- nil
				return
			default:
			}
		}
	}()
	const rounds, perRound = 20, 500
	value := make([]byte, 1000)
	for round := range rounds {
		if err := v.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			value[0] = byte(round)
			for i := range perRound {
				if err := b.Put(fmt.Appendf(nil, "%02d-%04d", round, i), value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-trimmed; err != nil {
		t.Fatal(err)
	}
	if err := v.View(func(tx *bolt.Tx) error {
		n := 0
		err := tx.Bucket([]byte("b")).ForEach(func(k, val []byte) error {
			var round, i int
			if _, err := fmt.Sscanf(string(k), "%02d-%04d", &round, &i); err != nil {
				return err
			}
			if len(val) != len(value) || int(val[0]) != round {
				return fmt.Errorf("%s: got value %d (%d bytes), want %d", k, val[0], len(val), round)
			}
			n++
			return nil
		})
		if err == nil && n != rounds*perRound {
			err = fmt.Errorf("got %d values, want %d", n, rounds*perRound)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
