package storetest

import (
	"testing"

	"github.com/agora-dev/agora"
)

func testConversationExists(t *testing.T, open func(t *testing.T) agora.Store) {
	f := newFixture(t, open)
	exists := func(id string) bool {
		t.Helper()
		ok, err := f.s.ConversationExists(f.ctx, id)
		if err != nil {
			t.Fatalf("ConversationExists(%s): %v", id, err)
		}
		return ok
	}
	author := f.participant()
	c := f.conversation(author.ID)
	if exists(c.ID) {
		t.Fatal("a conversation exists before its creation")
	}
	f.apply(ParticipantCreated(author), ConversationCreated(c))
	if !exists(c.ID) {
		t.Fatal("a created conversation does not exist")
	}
	f.apply(ConversationDeleted(c.ID, f.tick()))
	if exists(c.ID) {
		t.Fatal("a deleted conversation still exists")
	}
}
