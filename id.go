package agora

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MaxIDLength is the longest id the API accepts.
const MaxIDLength = 64

// ValidID reports whether s has the form of an id: 1-64 characters from
// [A-Za-z0-9_-]. Path ids outside that form are rejected before any lookup.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewID returns a random base62 id of n characters. Ten characters give 59
// bits of entropy, plenty to make collisions between conversations or
// opinions negligible.
func NewID(n int) string {
	b := make([]byte, n)
	buf := make([]byte, n*2)
	for i := 0; i < n; {
		_, _ = rand.Read(buf)
		for _, r := range buf {
			// Rejection sampling keeps the distribution uniform: 248 = 4*62.
			if r < 248 && i < n {
				b[i] = idAlphabet[r%62]
				i++
			}
		}
	}
	return string(b)
}

// NewToken returns a fresh bearer token (256 random bits, URL-safe base64).
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the SHA-256 of a token: only hashes are stored or kept
// in memory, so a leaked database or heap dump reveals no usable token.
func HashToken(token string) [32]byte {
	return sha256.Sum256([]byte(token))
}
