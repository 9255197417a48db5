package signing_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// Known answer from the Standard Webhooks reference libraries.
const (
	katSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	katID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	katTimestamp = 1614265330
	katBody      = `{"test": 2432232314}`
	katSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustParse(tb testing.TB, text string) signing.Secret {
	tb.Helper()
	s, err := signing.ParseSecret(text)
	if err != nil {
		tb.Fatalf("ParseSecret(%q): %v", text, err)
	}
	return s
}

func katHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set(signing.HeaderID, katID)
	h.Set(signing.HeaderTimestamp, strconv.Itoa(katTimestamp))
	h.Set(signing.HeaderSignature, sig)
	return h
}

func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	got := signing.Sign(mustParse(t, katSecret), katID, time.Unix(katTimestamp, 0), []byte(katBody))
	if got != katSignature {
		t.Fatalf("got %s, want %s", got, katSignature)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := mustParse(t, katSecret)
	other, err := signing.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Unix(katTimestamp, 0)
	tests := []struct {
		name    string
		headers http.Header
		body    string
		now     time.Time
		secrets []signing.Secret
		want    error
	}{
		{"valid", katHeaders(katSignature), katBody, sent, []signing.Secret{secret}, nil},
		{"valid within tolerance", katHeaders(katSignature), katBody, sent.Add(4 * time.Minute), []signing.Secret{secret}, nil},
		{"changed body", katHeaders(katSignature), `{"test": 2432232315}`, sent, []signing.Secret{secret}, signing.ErrNoMatchingSignature},
		{"wrong secret", katHeaders(katSignature), katBody, sent, []signing.Secret{other}, signing.ErrNoMatchingSignature},
		{"timestamp too old", katHeaders(katSignature), katBody, sent.Add(5*time.Minute + time.Second), []signing.Secret{secret}, signing.ErrTimestampTooOld},
		{"timestamp too new", katHeaders(katSignature), katBody, sent.Add(-5*time.Minute - time.Second), []signing.Secret{secret}, signing.ErrTimestampTooNew},
		{"one of several signatures", katHeaders("v1,Zm9v " + katSignature), katBody, sent, []signing.Secret{secret}, nil},
		{"one of several secrets", katHeaders(katSignature), katBody, sent, []signing.Secret{other, secret}, nil},
		{"unknown version", katHeaders("v2," + katSignature[3:]), katBody, sent, []signing.Secret{secret}, signing.ErrNoMatchingSignature},
		{"missing signature", katHeaders(""), katBody, sent, []signing.Secret{secret}, signing.ErrMissingHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := signing.Verify(tt.headers, []byte(tt.body), tt.now, tt.secrets...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRejectsBadTimestamp(t *testing.T) {
	t.Parallel()
	h := katHeaders(katSignature)
	h.Set(signing.HeaderTimestamp, "16142653.30")
	err := signing.Verify(h, []byte(katBody), time.Unix(katTimestamp, 0), mustParse(t, katSecret))
	if !errors.Is(err, signing.ErrInvalidTimestamp) {
		t.Fatalf("got %v, want %v", err, signing.ErrInvalidTimestamp)
	}
}

func TestSetHeadersRotation(t *testing.T) {
	t.Parallel()
	oldSecret, _ := signing.NewSecret(rand.Reader)
	newSecret, _ := signing.NewSecret(rand.Reader)
	now := time.Now()
	body := []byte(`{"a":1}`)
	h := http.Header{}
	signing.SetHeaders(h, []signing.Secret{newSecret, oldSecret}, "msg_1", now, body)
	for _, s := range []signing.Secret{oldSecret, newSecret} {
		if err := signing.Verify(h, body, now, s); err != nil {
			t.Fatalf("verify with one of the rotated secrets: got %v, want nil", err)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := signing.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parsed := mustParse(t, s.String())
	if !bytes.Equal(parsed, s) {
		t.Fatalf("got %x, want %x", parsed, s)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := signing.ParseSecret(bad); !errors.Is(err, signing.ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q): got %v, want %v", bad, err, signing.ErrInvalidSecret)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(katID, strconv.Itoa(katTimestamp), katSignature, katBody)
	f.Add("", "", "", "")
	f.Add("id", "-1", "v1,,,, v1", "x")
	f.Add("id", "99999999999999999999", "v1,=== v2,abc", "{}")
	secret := mustParse(f, katSecret)
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set(signing.HeaderID, id)
		h.Set(signing.HeaderTimestamp, ts)
		h.Set(signing.HeaderSignature, sig)
		err := signing.Verify(h, []byte(body), time.Unix(katTimestamp, 0), secret)
		if err == nil {
			// Only a genuine signature may verify.
			unix, perr := signing.ParseTimestamp(ts)
			if perr != nil {
				t.Fatalf("verified with unparsable timestamp %q", ts)
			}
			want := signing.Sign(secret, id, time.Unix(unix, 0), []byte(body))
			found := false
			for _, got := range signing.ParseSignatures(sig) {
				if want == "v1,"+b64(got) {
					found = true
				}
			}
			if !found {
				t.Fatalf("verified without a matching signature: %q", sig)
			}
		}
	})
}
