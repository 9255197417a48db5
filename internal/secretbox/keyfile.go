package secretbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// LoadFile returns the keyring kept in the file at path (the text Parse
// reads), creating the file with one new key, readable by its owner only,
// when it does not exist; created reports that it did. A file that others
// may read is refused.
func LoadFile(path string) (k *Keyring, created bool, err error) {
	text, err := ReadPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		spec, kerr := NewKey()
		if kerr != nil {
			return nil, false, kerr
		}
		if err = WritePrivateFile(path, spec+"\n"); err == nil {
			k, err = Parse(spec)
			return k, true, err
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		text, err = ReadPrivateFile(path) // another process made it first
	}
	if err != nil {
		return nil, false, err
	}
	k, err = Parse(strings.TrimSpace(text))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, false, nil
}

// ReadPrivateFile returns the content of a file that only its owner may
// read; it refuses one that its group or others may read or write.
func ReadPrivateFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s is open to other users (mode %04o): it holds a secret; chmod 600 it", path, perm)
	}
	data, err := io.ReadAll(f)
	return string(data), err
}

// WritePrivateFile creates a file that only its owner may read and writes
// text to it; it fails with fs.ErrExist when the file exists.
func WritePrivateFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
