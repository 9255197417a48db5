package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification. Go canonicalises them
// on the wire; receivers look them up case-insensitively.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// signatureVersion tags the only signature scheme defined so far.
const signatureVersion = "v1"

// Sign returns the "v1,<base64>" signature of body for the message id and the
// timestamp, made with secret.
func Sign(secret Secret, id string, timestamp time.Time, body []byte) string {
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(secret, id, timestamp.Unix(), body))
}

// SignatureHeader returns the value of the webhook-signature header: one
// signature per secret, separated by spaces, so a receiver holding either the
// old or the new secret during a rotation can verify the message.
func SignatureHeader(secrets []Secret, id string, timestamp time.Time, body []byte) string {
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		parts = append(parts, Sign(s, id, timestamp, body))
	}
	return strings.Join(parts, " ")
}

// SetHeaders sets the three Standard Webhooks headers on h for a message with
// the id and body, signed at timestamp with every secret in secrets.
func SetHeaders(h http.Header, secrets []Secret, id string, timestamp time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, SignatureHeader(secrets, id, timestamp, body))
}

func mac(secret Secret, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	var buf [20]byte
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(buf[:0], unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
