package cluster

import (
	"reflect"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary frames to the decoder of forwarded
// requests: it must never panic, and a frame it accepts must re-encode to
// one that decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	seed, _ := EncodeRequest(&Request{Method: "PUT", URI: "/v1/conversations/c/opinions/o/vote", Header: [][]string{{"Authorization", "Bearer t"}}, Body: []byte(`{"vote":"agree"}`), Hops: 1})
	f.Add(seed)
	f.Add([]byte{0x80})
	f.Add([]byte{0xde, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		again, err := EncodeRequest(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := DecodeRequest(again)
		if err != nil || !reflect.DeepEqual(normalize(r), normalize(r2)) {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, r2, err)
		}
	})
}

func normalize(r *Request) *Request {
	c := *r
	if len(c.Body) == 0 {
		c.Body = nil
	}
	if len(c.Header) == 0 {
		c.Header = nil
	}
	return &c
}

// FuzzDecodeResponse checks the decoder of relayed answers the same way.
func FuzzDecodeResponse(f *testing.F) {
	seed, _ := EncodeResponse(&Response{Status: 200, Header: [][]string{{"Content-Type", "application/json"}}, Body: []byte(`{}`)})
	f.Add(seed)
	f.Add([]byte{0x93, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if r.Status < 100 || r.Status > 599 {
			t.Fatalf("accepted status %d", r.Status)
		}
		for _, h := range r.Header {
			_ = h[0] // must not panic: relayed headers are pairs
			_ = h[1]
		}
	})
}
