package bench

import (
	"fmt"
	"os"
	"time"
)

// Fsync is how fast the disk made writes durable when the bench measured
// it: Writes writes of Bytes each, each on disk before the next, like
// `dd if=/dev/zero of=F bs=4k count=2000 oflag=dsync`. Durable figures
// mean little without it: the same disk's speed varies from day to day.
type Fsync struct {
	Dir        string  `json:"dir"`
	Writes     int     `json:"writes"`
	Bytes      int     `json:"bytesPerWrite"`
	Seconds    float64 `json:"seconds"`
	MsPerWrite float64 `json:"msPerWrite"`
}

// MeasureFsync writes n blocks of size zero bytes to a new file in dir
// (the system's temporary directory when empty), opened for synchronous
// writes, and removes the file.
func MeasureFsync(dir string, n, size int) (Fsync, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "boomerang-fsync-")
	if err != nil {
		return Fsync{}, fmt.Errorf("bench: fsync figure: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	f.Close()
	if f, err = os.OpenFile(name, os.O_WRONLY|os.O_SYNC, 0o600); err != nil {
		return Fsync{}, fmt.Errorf("bench: fsync figure: %w", err)
	}
	defer f.Close()
	block := make([]byte, size)
	start := time.Now()
	for range n {
		if _, err := f.Write(block); err != nil {
			return Fsync{}, fmt.Errorf("bench: fsync figure: %w", err)
		}
	}
	elapsed := time.Since(start)
	return Fsync{Dir: dir, Writes: n, Bytes: size, Seconds: elapsed.Seconds(),
		MsPerWrite: float64(elapsed.Microseconds()) / 1000 / float64(max(n, 1))}, nil
}
