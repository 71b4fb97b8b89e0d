package agora

import (
	"errors"
	"fmt"
	"time"
)

// Error codes are the stable strings clients see in the `code` field of a
// problem+json body. Adapters return them; the HTTP layer maps each to one
// status in a single table.
const (
	EINVALID         = "invalid_input"
	EUNAUTHENTICATED = "unauthenticated"
	EFORBIDDEN       = "forbidden"
	ENOTFOUND        = "not_found"
	EMODERATED       = "opinion_moderated"
	ELOCKED          = "conversation_locked"
	ERATELIMITED     = "rate_limited"
	EUNAVAILABLE     = "unavailable"
	ETOOLARGE        = "too_large"
	EUNSUPPORTED     = "unsupported_media_type"
	EMETHOD          = "method_not_allowed"
	// EFENCED means another node took ownership of the conversation: the
	// store refused a write stamped with an older epoch. Clients see 503
	// unavailable (http.writeError).
	EFENCED = "fenced"
	// EINTERNAL is never chosen for bad input; it marks a bug or an
	// unexpected store failure and is the only code the HTTP layer logs.
	EINTERNAL = "internal"
)

// Error is the one error type of the domain. Code is machine-readable,
// Message is safe to show to a client.
type Error struct {
	Code    string
	Message string
	// RetryAfter, when positive, tells the client when to try again (429 and
	// 503 answers carry it as a Retry-After header).
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("agora error: code=%s message=%s", e.Code, e.Message)
}

// Errorf builds an *Error with a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable builds an EUNAVAILABLE error that asks the client to retry
// after d.
func Unavailable(d time.Duration, format string, args ...any) *Error {
	return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf(format, args...), RetryAfter: d}
}

// ErrorCode returns the code of an *Error in err's chain, "" for nil and
// EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of an *Error in err's chain;
// other errors are hidden behind a generic text so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorRetryAfter returns the RetryAfter of an *Error in err's chain.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
