package http

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// FuzzDecodeBody feeds arbitrary bodies and content types to the JSON
// decoder of every request type: it must never panic, must answer only
// invalid_input or unsupported_media_type, and whatever it accepts holds
// valid UTF-8 only.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{`{"title":"x"}`, `{"vote":"agree"}`, `{"text":"\ud800"}`, `{"text":"\ud83d\ude00"}`,
		`[`, `{"a":` + string(rune(0xfffd)) + `}`, "\xff\xfe", `{"seed_opinions":["a",1]}`, `{"is_indexed":"yes"}`, `\\u`, `"\u"`} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{"title":"x"}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, target := range []any{&conversationRequest{}, &opinionRequest{}, &voteRequest{}, &lockRequest{}, &moderationRequest{}, &roleRequest{}, &participantRequest{}} {
			for _, optional := range []bool{false, true} {
				var ctx fasthttp.RequestCtx
				ctx.Request.Header.SetContentType(contentType)
				ctx.Request.SetBody(body)
				err := decodeBody(&ctx, target, optional)
				if err != nil {
					if code := agora.ErrorCode(err); code != agora.EINVALID && code != agora.EUNSUPPORTED {
						t.Fatalf("decode error with code %s: %v", code, err)
					}
					continue
				}
				out, _ := json.Marshal(target)
				if !utf8.Valid(out) {
					t.Fatalf("accepted a body that decodes to invalid UTF-8: %q", body)
				}
			}
		}
	})
}

// FuzzCheckSurrogates checks the lone-surrogate scanner against the
// standard library: a string it accepts must round-trip through
// encoding/json without the replacement character appearing from nowhere.
func FuzzCheckSurrogates(f *testing.F) {
	for _, seed := range []string{`"\ud800"`, `"\ud800\udc00"`, `"\\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\u00e9"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkSurrogates([]byte(s)) != nil || !utf8.ValidString(s) {
			return
		}
		var v string
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		var raw string
		if json.Unmarshal([]byte(s), &raw) == nil && containsReplacement(v) && !containsReplacement(s) && !containsEscapedReplacement(s) {
			t.Fatalf("accepted %q, which decodes with U+FFFD: %q", s, v)
		}
	})
}

func containsReplacement(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError {
			return true
		}
	}
	return false
}

func containsEscapedReplacement(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i] == '\\' && (s[i+1:i+6] == "ufffd" || s[i+1:i+6] == "uFFFD") {
			return true
		}
	}
	return false
}
