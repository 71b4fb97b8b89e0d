package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

func testIdempotentAnswers(t *testing.T, open func(t *testing.T) agora.Store) {
	f := newFixture(t, open)
	now := time.Now().UTC()
	first := agora.IdempotentAnswer{
		ParticipantID: "p1", Target: "POST /v1/conversations/c1/opinions", Key: "k-ü-1",
		Status: 201, ContentType: "application/json", Body: []byte(`{"id":"o1","text":"ünïcödé \u0000"}` + "\x00\xff"),
		ExpiresAt: now.Add(10 * time.Minute).Truncate(time.Microsecond),
	}
	get := func(participant, target, key string, at time.Time) *agora.IdempotentAnswer {
		t.Helper()
		a, err := f.s.RememberedAnswer(f.ctx, participant, target, key, at)
		if err != nil {
			t.Fatalf("RememberedAnswer: %v", err)
		}
		return a
	}
	same := func(got *agora.IdempotentAnswer, want agora.IdempotentAnswer) bool {
		return got != nil && got.ParticipantID == want.ParticipantID && got.Target == want.Target && got.Key == want.Key &&
			got.Status == want.Status && got.ContentType == want.ContentType && bytes.Equal(got.Body, want.Body) &&
			got.ExpiresAt.Equal(want.ExpiresAt)
	}
	if a := get(first.ParticipantID, first.Target, first.Key, now); a != nil {
		t.Fatalf("an answer before any was kept: %+v", a)
	}
	if err := f.s.RememberAnswer(f.ctx, first); err != nil {
		t.Fatalf("RememberAnswer: %v", err)
	}
	if a := get(first.ParticipantID, first.Target, first.Key, now); !same(a, first) {
		t.Fatalf("kept %+v, want %+v", a, first)
	}

	// The first answer wins.
	second := first
	second.Status, second.Body = 200, []byte(`{"id":"o2"}`)
	if err := f.s.RememberAnswer(f.ctx, second); err != nil {
		t.Fatalf("RememberAnswer again: %v", err)
	}
	if a := get(first.ParticipantID, first.Target, first.Key, now); !same(a, first) {
		t.Fatalf("a second answer replaced the first: %+v", a)
	}

	// The key is the participant's, on its target.
	for _, k := range [][3]string{{"p2", first.Target, first.Key}, {"p1", "POST /v1/conversations", first.Key}, {"p1", first.Target, "k-u-1"}} {
		if a := get(k[0], k[1], k[2], now); a != nil {
			t.Errorf("%v found the answer of %v", k, first)
		}
	}

	// An expired answer is gone, and a new one takes its key.
	if a := get(first.ParticipantID, first.Target, first.Key, first.ExpiresAt); a != nil {
		t.Fatalf("an answer was found at its expiry: %+v", a)
	}
	old := first
	old.Key, old.ExpiresAt = "old", now.Add(-time.Second).Truncate(time.Microsecond)
	if err := f.s.RememberAnswer(f.ctx, old); err != nil {
		t.Fatal(err)
	}
	if a := get(old.ParticipantID, old.Target, old.Key, now); a != nil {
		t.Fatalf("an answer that expired when it was written is found: %+v", a)
	}
	renewed := old
	renewed.ExpiresAt, renewed.Body = now.Add(time.Minute).Truncate(time.Microsecond), []byte("{}")
	if err := f.s.RememberAnswer(f.ctx, renewed); err != nil {
		t.Fatal(err)
	}
	if a := get(old.ParticipantID, old.Target, old.Key, now); !same(a, renewed) {
		t.Fatalf("after the first expired: %+v, want %+v", a, renewed)
	}
}
