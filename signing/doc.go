// Package signing signs and verifies webhooks as the Standard Webhooks
// specification (https://www.standardwebhooks.com) describes them.
//
// It depends only on the standard library so that any Go program receiving
// Boomerang's webhooks, or its calls to a target, can import it to verify them:
//
//	secret, err := signing.ParseSecret("whsec_...")
//	err = signing.Verify(r.Header, body, time.Now(), secret)
//
// A signature covers "<webhook-id>.<webhook-timestamp>.<body>" with
// HMAC-SHA256 and is sent as "v1,<base64>". Several space-separated signatures
// may appear in one header while a secret is being rotated; a message verifies
// when any of them matches any of the receiver's secrets.
package signing
