package storetest

import (
	"testing"

	"github.com/agora-dev/agora"
)

// stamp returns the events with their epoch set, as an actor stamps them.
func stamp(epoch int64, events ...agora.Event) []agora.Event {
	for i := range events {
		events[i].Epoch = epoch
	}
	return events
}

func testFencing(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("a created conversation is at epoch 1 and each claim increments it", func(t *testing.T) {
		f := newFixture(t, open)
		author := f.participant()
		c := f.conversation(author.ID)
		f.apply(ParticipantCreated(author))
		f.apply(stamp(1, ConversationCreated(c))...)
		for want := int64(2); want <= 4; want++ {
			got, err := f.s.ClaimConversation(f.ctx, c.ID, "node-a")
			if err != nil || got != want {
				t.Fatalf("claim = %d, %v; want %d", got, err, want)
			}
		}
	})

	t.Run("events of a superseded epoch are refused with nothing committed", func(t *testing.T) {
		f := newFixture(t, open)
		author := f.participant()
		c := f.conversation(author.ID)
		o := f.opinion(c, author.ID)
		f.apply(ParticipantCreated(author))
		f.apply(stamp(1, ConversationCreated(c), OpinionCreated(o))...)
		epoch, err := f.s.ClaimConversation(f.ctx, c.ID, "node-b")
		if err != nil {
			t.Fatal(err)
		}
		stale := stamp(epoch-1, VoteCast(c.ID, author.ID, o.ID, agora.Agree, f.tick()))
		wantCode(t, f.s.Apply(f.ctx, stale), agora.EFENCED)
		if got := f.load(c.ID); len(got.votes) != 0 {
			t.Fatalf("a fenced vote was committed: %+v", got.votes)
		}
		f.apply(stamp(epoch, VoteCast(c.ID, author.ID, o.ID, agora.Agree, f.tick()))...)
		if got := f.load(c.ID); len(got.votes) != 1 {
			t.Fatalf("the owner's vote was not committed: %+v", got.votes)
		}
	})

	t.Run("claiming an unknown or deleted conversation is not found", func(t *testing.T) {
		f := newFixture(t, open)
		_, err := f.s.ClaimConversation(f.ctx, "nope", "node-a")
		wantCode(t, err, agora.ENOTFOUND)
		author := f.participant()
		c := f.conversation(author.ID)
		f.apply(ParticipantCreated(author), ConversationCreated(c), ConversationDeleted(c.ID, f.tick()))
		_, err = f.s.ClaimConversation(f.ctx, c.ID, "node-a")
		wantCode(t, err, agora.ENOTFOUND)
	})
}
