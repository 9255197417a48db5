package signing_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

func ExampleVerify() {
	secret, _ := signing.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)

	h := http.Header{}
	signing.SetHeaders(h, []signing.Secret{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	fmt.Println(h.Get(signing.HeaderSignature))
	fmt.Println(signing.Verify(h, body, sent.Add(time.Minute), secret))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
}
