package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// newID returns an ID shaped like API Gateway's connection and request IDs:
// 11 random bytes in padded URL-safe base64, 16 characters ending in '='
// (for example "R1kmxc2VNjMCFIA="). Connection IDs must be URL-encoded in
// @connections paths because of the '='; clients that forget it are caught.
func newID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.URLEncoding.EncodeToString(b[:])
}

const apiIDAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewAPIID returns a random API ID like API Gateway's: 10 lowercase
// letters and digits.
func NewAPIID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = apiIDAlphabet[int(b[i])%len(apiIDAlphabet)]
	}
	return string(b[:])
}

// traceID returns an X-Amzn-Trace-Id value: Root=1-{epoch hex}-{96 random bits}.
func traceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}

// requestTime formats t as requestContext.requestTime: 24/Nov/2026:15:00:00 +0000.
func requestTime(t time.Time) string {
	return t.UTC().Format("02/Jan/2006:15:04:05 -0700")
}

// isoTime formats t as the @connections API's timestamps (ISO 8601, UTC, ms).
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
