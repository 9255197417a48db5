package delivery

import (
	"net/http"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
)

func TestNoRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    int
		header  string
		want    broker.Outcome
		wantErr string // a part of the error, "" for none added
	}{
		{"503 with the header", 503, "true", broker.OutcomeFailed, reasonNoRetryHeader},
		{"429 with the header in capitals", 429, " TRUE ", broker.OutcomeFailed, reasonNoRetryHeader},
		{"400 with the header", 400, "true", broker.OutcomeFailed, reasonNoRetryHeader},
		{"503 with the header false", 503, "false", broker.OutcomeRetry, ""},
		{"503 with the header 1", 503, "1", broker.OutcomeRetry, ""},
		{"503 without", 503, "", broker.OutcomeRetry, ""},
		{"489", 489, "", broker.OutcomeFailed, reasonStatus489},
		{"489 with the header", 489, "true", broker.OutcomeFailed, reasonStatus489},
		{"200 with the header", 200, "true", broker.OutcomeSucceeded, ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set(HeaderNoRetry, tt.header)
		}
		base := "target answered " + http.StatusText(tt.code)
		got, errText := noRetry(tt.code, h, ClassifyStatus(tt.code), base)
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
		if tt.wantErr == "" && errText != base || tt.wantErr != "" && !strings.HasSuffix(errText, "; "+tt.wantErr) {
			t.Errorf("%s: error %q, want %q with %q", tt.name, errText, base, tt.wantErr)
		}
	}
}
