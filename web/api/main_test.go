package api_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if they leave goroutines behind: the
// servers, projectors and workers each test starts must all stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
