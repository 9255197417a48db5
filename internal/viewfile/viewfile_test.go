package viewfile

import (
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
	_ = v.DB.Close() // not v.Close: as if the process died
	v, _ = Open(path, quiet)
	if !has(t, v) {
		t.Fatal("a process crash lost the view")
	}
	_ = v.DB.Close()

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
