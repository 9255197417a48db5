package delivery

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

// callOnce makes one attempt at srv with a real caller and returns the
// result, checking that the recorded response stays within the bounds.
func callOnce(t *testing.T, url string, timeout float64) broker.CallResult {
	t.Helper()
	c := NewCaller(NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{}), staticSecrets{make(signing.Secret, 32)}, 0, nil)
	res := c.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1, Spec: broker.Spec{
		TargetURL: url, Method: "POST", Timeout: timeout,
	}})
	checkKept(t, res)
	return res
}

// checkKept fails unless res is within the documented bounds.
func checkKept(t *testing.T, res broker.CallResult) {
	t.Helper()
	if len(res.Headers) > MaxKeptHeaders {
		t.Errorf("kept %d headers, over %d", len(res.Headers), MaxKeptHeaders)
	}
	total := 0
	for k, v := range res.Headers {
		total += len(k) + len(v)
		if len(k) > MaxHeaderName || len(v) > MaxHeaderValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Errorf("header %.40q: %.40q, %d bytes, beyond the bounds or not UTF-8", k, v, len(v))
		}
	}
	if total > MaxKeptHeaderBytes {
		t.Errorf("kept %d bytes of headers, over %d", total, MaxKeptHeaderBytes)
	}
	if len(res.Body) > 2*DefaultMaxResponseBody+4<<10 || len(res.Error) > MaxErrorText || !utf8.ValidString(res.Error) {
		t.Errorf("body of %d bytes or error of %d bytes: beyond the bounds", len(res.Body), len(res.Error))
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not encode: %v", err)
	}
}

// TestCallerBoundsWhatATargetSends plays the targets a broken or hostile
// server can be, and checks that each attempt ends as one call whose
// record stays within the bounds, with the right marker.
func TestCallerBoundsWhatATargetSends(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("a", 1<<20)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(t *testing.T, res broker.CallResult)
	}{{
		name: "9 MB of headers",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 9 {
				w.Header().Set("X-Big-"+strconv.Itoa(i), big)
			}
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Outcome != broker.OutcomeRetry || res.StatusCode != 0 || res.Error != "response headers too large: over 256 KiB" {
				t.Errorf("got %s %d %q, want a failed attempt naming the headers", res.Outcome, res.StatusCode, res.Error)
			}
		},
	}, {
		name: "200,000 headers",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 200_000 {
				w.Header()["X-H-"+strconv.Itoa(i)] = []string{"v"}
			}
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Outcome != broker.OutcomeRetry || res.Headers != nil {
				t.Errorf("got %s with %d headers, want a failed attempt", res.Outcome, len(res.Headers))
			}
		},
	}, {
		name: "many small headers within the limit",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 5000 {
				w.Header()["X-H-"+strconv.Itoa(i)] = []string{"v"}
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Outcome != broker.OutcomeSucceeded || !res.HeadersTruncated || len(res.Headers) != MaxKeptHeaders || res.Headers["Content-Type"] != "text/plain" {
				t.Errorf("got %s, %d headers, truncated %v, Content-Type %q; want success with %d headers, Content-Type first, marked",
					res.Outcome, len(res.Headers), res.HeadersTruncated, res.Headers["Content-Type"], MaxKeptHeaders)
			}
		},
	}, {
		name: "thousands of Set-Cookie",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 3000 {
				w.Header().Add("Set-Cookie", "c"+strconv.Itoa(i)+"=x")
			}
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if !res.HeadersTruncated || !strings.HasPrefix(res.Headers["Set-Cookie"], "c0=x, c1=x") {
				t.Errorf("Set-Cookie kept as %.40q, truncated %v; want its beginning, marked", res.Headers["Set-Cookie"], res.HeadersTruncated)
			}
		},
	}, {
		name: "invalid UTF-8 in a header",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["X-Bad"] = []string{"a\xff\xfeb"}
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Headers["X-Bad"] != "a\uFFFDb" {
				t.Errorf("X-Bad kept as %q, want the bad bytes replaced", res.Headers["X-Bad"])
			}
		},
	}, {
		name: "a storm of 1xx answers",
		handler: func(w http.ResponseWriter, r *http.Request) {
			for range 20_000 {
				w.WriteHeader(http.StatusEarlyHints)
			}
			w.WriteHeader(http.StatusOK)
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Outcome != broker.OutcomeRetry || res.Error != "response headers too large: over 256 KiB" {
				t.Errorf("got %s %q, want a failed attempt naming the headers", res.Outcome, res.Error)
			}
		},
	}, {
		name: "a body that never ends",
		handler: func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.Outcome != broker.OutcomeSucceeded || !res.BodyTruncated {
				t.Errorf("got %s truncated %v, want its beginning, marked", res.Outcome, res.BodyTruncated)
			}
		},
	}, {
		name: "a body JSON would escape six-fold",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`"` + strings.Repeat("<", 60<<10) + `"`))
		},
		check: func(t *testing.T, res broker.CallResult) {
			if res.BodyEncoding != "base64" || res.BodyTruncated {
				t.Errorf("got encoding %q truncated %v, want the whole body in base64", res.BodyEncoding, res.BodyTruncated)
			}
		},
	}, {
		name: "a connection reset in the middle of the body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial")
			_ = buf.Flush()
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		},
		check: func(t *testing.T, res broker.CallResult) {
			if string(res.Body) != `"partial"` || !res.BodyTruncated {
				t.Errorf("got body %s truncated %v, want what came, marked", res.Body, res.BodyTruncated)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				tt.handler(w, r)
			}))
			defer srv.Close()
			tt.check(t, callOnce(t, srv.URL, 30))
			srv.Close() // waits for the handler: calls is final
			if calls != 1 {
				t.Errorf("the target got %d calls, want 1", calls)
			}
		})
	}
}

func TestKeepHeadersIsDeterministic(t *testing.T) {
	t.Parallel()
	h := http.Header{"Date": {"d"}, "Content-Type": {"text/plain"}}
	for i := range 100 {
		h["X-"+strconv.Itoa(1000+i)] = []string{strings.Repeat("v", 300)}
	}
	h["X-Long-Name-"+strings.Repeat("n", MaxHeaderName)] = []string{"v"}
	first, truncated := keepHeaders(h)
	if !truncated || first["Content-Type"] != "text/plain" || first["Date"] != "d" {
		t.Fatalf("got %d headers, truncated %v; want the priority ones kept, marked", len(first), truncated)
	}
	for range 20 {
		again, _ := keepHeaders(h)
		if len(again) != len(first) {
			t.Fatalf("kept %d headers, then %d", len(first), len(again))
		}
		for k := range first {
			if _, ok := again[k]; !ok {
				t.Fatalf("%s kept once, not the next time", k)
			}
		}
	}
	if _, ok := first["X-1000"]; !ok {
		t.Errorf("X-1000 left out: got %v", len(first))
	}
	if kept, truncated := keepHeaders(http.Header{"A": {"1"}, "B": {"2", "3"}}); truncated || kept["B"] != "2, 3" {
		t.Errorf("small headers: got %v truncated %v, want all, joined", kept, truncated)
	}
}
