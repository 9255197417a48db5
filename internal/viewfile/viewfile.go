// Package viewfile opens a node's bbolt view without an fsync per write, and
// throws the file away when the machine, not just the process, may have
// stopped before the operating system wrote it out.
//
// The view is rebuilt from the stream whenever it is missing, so it need
// not survive a power loss, only a process crash: writes that reached the
// operating system survive a crash of the process. A marker file holds the
// machine's boot id while the view is open; finding it at the next start
// with another boot id means the machine went down with the view open, and
// the view is rebuilt.
package viewfile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bootIDPath is where Linux publishes an id that changes at every boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// View is an open view file.
type View struct {
	*bolt.DB
	marker  string
	trimmer *trimmer
}

// Open opens (or creates) the view at path.
func Open(path string, logger *slog.Logger) (*View, error) {
	marker := path + ".open"
	boot := bootID()
	if prev, err := os.ReadFile(marker); err == nil {
		if string(prev) != boot || boot == "" {
			logger.Warn("the machine stopped while the view was open; rebuilding it from the stream", "path", path)
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("viewfile: remove %s: %w", path, err)
			}
		}
	}
	if err := writeSynced(marker, boot); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second, NoSync: true, NoFreelistSync: true, InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("viewfile: open %s: %w", path, err)
	}
	return &View{DB: db, marker: marker, trimmer: startTrimmer(db)}, nil
}

// Close syncs and closes the view and clears the marker: the next start
// trusts the file.
func (v *View) Close() error {
	v.trimmer.close()
	if err := v.DB.Sync(); err != nil {
		_ = v.DB.Close()
		return err
	}
	if err := v.DB.Close(); err != nil {
		return err
	}
	return os.Remove(v.marker)
}

func bootID() string {
	data, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func writeSynced(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("viewfile: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("viewfile: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("viewfile: %w", err)
	}
	return f.Close()
}
