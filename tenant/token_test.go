package tenant_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/boomerang-dev/boomerang/tenant"
)

func TestStatusTokens(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tokens := tenant.NewTokens(key, time.Hour, clk.Now)

	good, exp, err := tokens.IssueTaskToken("ten_a", "tsk_1")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("expiry: got %s, want an hour from now", exp)
	}
	p, err := tokens.ParseTaskToken(good)
	if err != nil || p.TenantID != "ten_a" || p.TaskID != "tsk_1" || p.KeyID != "" {
		t.Fatalf("parse: got %+v %v", p, err)
	}

	claims := func(aud string, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"iss": "boomerang", "sub": "tsk_1", "tid": "ten_a", "aud": aud,
			"iat": clk.Now().Unix(), "exp": exp.Unix()}
	}
	sign := func(method jwt.SigningMethod, c jwt.MapClaims, k any) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	valid := claims(tenant.AudienceTaskStatus, clk.Now().Add(time.Hour))
	bad := map[string]string{
		"alg none":       sign(jwt.SigningMethodNone, valid, jwt.UnsafeAllowNoneSignatureType),
		"wrong key":      sign(jwt.SigningMethodHS256, valid, otherKey),
		"RS256 instead":  sign(jwt.SigningMethodRS256, valid, rsaKey),
		"HS512 instead":  sign(jwt.SigningMethodHS512, valid, key),
		"other audience": sign(jwt.SigningMethodHS256, claims("dashboard", clk.Now().Add(time.Hour)), key),
		"no expiry":      sign(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "boomerang", "sub": "tsk_1", "tid": "ten_a", "aud": tenant.AudienceTaskStatus}, key),
		"garbage":        "a.b.c",
	}
	for name, token := range bad {
		if _, err := tokens.ParseTaskToken(token); !errors.Is(err, tenant.ErrUnauthorized) {
			t.Errorf("%s: got %v, want ErrUnauthorized", name, err)
		}
	}
	clk.Add(time.Hour + time.Minute)
	if _, err := tokens.ParseTaskToken(good); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Errorf("expired: got %v, want ErrUnauthorized", err)
	}
}
