package signing_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

var benchBody = []byte(`{"type":"task.succeeded","timestamp":"2026-01-01T00:00:00Z","data":{"taskId":"tsk_x","status":"succeeded","attempts":1,"result":{"statusCode":200,"body":"` + strings.Repeat("x", 200) + `"}}}`)

func BenchmarkSign(b *testing.B) {
	secret, _ := signing.ParseSecret(katSecret)
	now := time.Now()
	for b.Loop() {
		_ = signing.Sign(secret, "msg_tsk_x", now, benchBody)
	}
}

func BenchmarkVerify(b *testing.B) {
	secret, _ := signing.ParseSecret(katSecret)
	now := time.Now()
	h := http.Header{}
	signing.SetHeaders(h, []signing.Secret{secret}, "msg_tsk_x", now, benchBody)
	for b.Loop() {
		if err := signing.Verify(h, benchBody, now, secret); err != nil {
			b.Fatal(err)
		}
	}
}
