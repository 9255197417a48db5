package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/secretbox"
)

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := secretbox.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustParse(t *testing.T, spec string) *secretbox.Keyring {
	t.Helper()
	k, err := secretbox.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpens(t *testing.T) {
	t.Parallel()
	k := mustParse(t, mustKey(t))
	plain := []byte("whsec_the-secret")
	sealed := k.Seal(plain, "tenant ten_a")
	if bytes.Contains([]byte(sealed), plain) || strings.Contains(sealed, base64.StdEncoding.EncodeToString(plain)) {
		t.Fatalf("the sealed value shows the plaintext: %s", sealed)
	}
	if id, ok := secretbox.SealedWith(sealed); !ok || id != k.Current() {
		t.Fatalf("SealedWith: got %q %v, want %q", id, ok, k.Current())
	}
	got, err := k.Open(sealed, "tenant ten_a")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: got %q %v, want %q", got, err, plain)
	}
	if again := k.Seal(plain, "tenant ten_a"); again == sealed {
		t.Fatal("two seals of the same plaintext are equal: the nonce is not fresh")
	}
}

// TestOpenRefuses: another purpose, another key, any altered byte and
// malformed text are refused.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	k := mustParse(t, mustKey(t))
	other := mustParse(t, mustKey(t))
	sealed := k.Seal([]byte("secret"), "tenant ten_a")

	if _, err := k.Open(sealed, "tenant ten_b"); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("another purpose: got %v, want ErrOpen", err)
	}
	var unknown *secretbox.UnknownKeyError
	if _, err := other.Open(sealed, "tenant ten_a"); !errors.As(err, &unknown) || unknown.ID != k.Current() {
		t.Errorf("another key: got %v, want UnknownKeyError naming %s", err, k.Current())
	}
	for i := len("sb1.") + 9; i < len(sealed); i++ {
		altered := []byte(sealed)
		altered[i] ^= 1
		if _, err := k.Open(string(altered), "tenant ten_a"); err == nil {
			t.Fatalf("altered byte %d: opened", i)
		}
	}
	for _, text := range []string{"", "whsec_abc", "sb1.", "sb1.12345678.", "sb1.1234.abcd", "sb2." + sealed[4:]} {
		if _, err := k.Open(text, "tenant ten_a"); !errors.Is(err, secretbox.ErrNotSealed) {
			t.Errorf("Open(%q): got %v, want ErrNotSealed", text, err)
		}
	}
}

// TestRotation: NEW,OLD seals with NEW and opens what OLD sealed; NEW
// alone does not.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := mustKey(t), mustKey(t)
	old := mustParse(t, oldKey)
	sealedOld := old.Seal([]byte("s"), "p")
	rotating := mustParse(t, newKey+","+oldKey)
	if got, err := rotating.Open(sealedOld, "p"); err != nil || string(got) != "s" {
		t.Fatalf("NEW,OLD opening OLD's value: %q %v", got, err)
	}
	sealedNew := rotating.Seal([]byte("s"), "p")
	if id, _ := secretbox.SealedWith(sealedNew); id != rotating.Current() || id == old.Current() {
		t.Fatalf("NEW,OLD sealed with %s, want the new key %s", id, rotating.Current())
	}
	if ids := rotating.IDs(); len(ids) != 2 || ids[1] != old.Current() {
		t.Fatalf("IDs: %v", ids)
	}
	if _, err := mustParse(t, newKey).Open(sealedOld, "p"); err == nil {
		t.Fatal("NEW alone opened OLD's value")
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for name, spec := range map[string]string{
		"empty": "", "not base64": "not*base64", "16 bytes": short, "twice": key + "," + key, "empty item": key + ",",
	} {
		_, err := secretbox.Parse(spec)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), short) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
	raw, _ := base64.StdEncoding.DecodeString(key)
	for _, text := range []string{base64.RawStdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw), " " + key + " "} {
		if k, err := secretbox.Parse(text); err != nil || k.Current() != secretbox.KeyID(raw) {
			t.Errorf("Parse(%q): %v", text, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret-key")
	k, created, err := secretbox.LoadFile(path)
	if err != nil || !created {
		t.Fatalf("first load: created %v, %v", created, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v %v, want mode 0600", info.Mode(), err)
	}
	again, created, err := secretbox.LoadFile(path)
	if err != nil || created || again.Current() != k.Current() {
		t.Fatalf("second load: %v created=%v; want the same key", err, created)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secretbox.LoadFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a file others can read: got %v, want a refusal", err)
	}
	if err := secretbox.WritePrivateFile(path, "x"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WritePrivateFile over a file: got %v, want ErrExist", err)
	}
}
