// Package storetest is the contract of agora.Store as a test suite: every
// store (persist/sqlite, persist/postgres) runs the same Run, so that the
// actors and the batcher can rely on one behaviour whichever store serves.
//
// The suite talks to a store only through agora.Store and agora.Auditor;
// it knows no SQL, no file and no schema.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// Run runs the contract suite. open must return a new, empty store for each
// call and arrange for its Close with t.Cleanup. The store must also
// implement agora.Auditor.
func Run(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("Apply", func(t *testing.T) { testApply(t, open) })
	t.Run("ApplyAtomicity", func(t *testing.T) { testApplyAtomicity(t, open) })
	t.Run("LoadConversation", func(t *testing.T) { testLoadConversation(t, open) })
	t.Run("ListConversations", func(t *testing.T) { testListConversations(t, open) })
	t.Run("Participants", func(t *testing.T) { testParticipants(t, open) })
	t.Run("RecountConversation", func(t *testing.T) { testRecount(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Fencing", func(t *testing.T) { testFencing(t, open) })
	t.Run("Import", func(t *testing.T) { testImport(t, open) })
	t.Run("IdempotentAnswers", func(t *testing.T) { testIdempotentAnswers(t, open) })
	t.Run("ConversationExists", func(t *testing.T) { testConversationExists(t, open) })
	t.Run("Ping", func(t *testing.T) {
		s := open(t)
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func testApply(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("accepts an empty batch", func(t *testing.T) {
		f := newFixture(t, open)
		if err := f.s.Apply(f.ctx, nil); err != nil {
			t.Fatalf("Apply(nil): %v", err)
		}
	})

	t.Run("creates a conversation that loads with its counters", func(t *testing.T) {
		f := newFixture(t, open)
		author := f.participant()
		c := f.conversation(author.ID)
		c.Counters = agora.Counters{OpinionCount: 3, VoteCount: 7, ParticipantCount: 2, LastReactedAt: c.CreatedAt}
		c.Body = "A body with\nnewlines, quotes ' \" and ünïcödé 🗳."
		f.apply(ParticipantCreated(author), ConversationCreated(c))
		got := f.load(c.ID)
		wantConversation(t, got.conversation, *c)
		if len(got.opinions) != 0 || len(got.votes) != 0 {
			t.Fatalf("loaded %d opinions and %d votes, want none", len(got.opinions), len(got.votes))
		}
	})

	t.Run("creates a conversation with its author, opinions and votes in one batch", func(t *testing.T) {
		f := newFixture(t, open)
		author, voter := f.participant(), f.participant()
		c := f.conversation(author.ID)
		o1, o2 := f.opinion(c, author.ID), f.opinion(c, author.ID)
		o1.IsSeed = true
		at := f.tick()
		f.apply(ParticipantCreated(author), ConversationCreated(c), OpinionCreated(o1), OpinionCreated(o2),
			ParticipantCreated(voter), VoteCast(c.ID, voter.ID, o1.ID, agora.Agree, at),
			VoteCast(c.ID, author.ID, o2.ID, agora.Disagree, at))
		got := f.load(c.ID)
		wantOpinions(t, got.opinions, *o1, *o2)
		wantVotes(t, got.votes,
			agora.StoredVote{ParticipantID: voter.ID, OpinionID: o1.ID, Vote: agora.Agree, At: at},
			agora.StoredVote{ParticipantID: author.ID, OpinionID: o2.ID, Vote: agora.Disagree, At: at})
	})

	t.Run("locks and unlocks a conversation", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		lock := &agora.Lock{Reason: agora.ReasonSpam, Explanation: "Flooded.", At: f.tick()}
		f.apply(Locked(c.ID, lock))
		got := f.load(c.ID).conversation
		if !got.Locked || got.Lock == nil || !reflect.DeepEqual(utcLock(got.Lock), utcLock(lock)) {
			t.Fatalf("after Locked: Locked=%v Lock=%+v, want true %+v", got.Locked, got.Lock, lock)
		}
		f.apply(Unlocked(c.ID, f.tick()))
		got = f.load(c.ID).conversation
		if got.Locked || got.Lock != nil {
			t.Fatalf("after Unlocked: Locked=%v Lock=%+v, want false nil", got.Locked, got.Lock)
		}
	})

	t.Run("deletes a conversation so that it is no longer found", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		f.apply(ConversationDeleted(c.ID, f.tick()))
		wantCode(t, f.s.LoadConversation(f.ctx, c.ID, &recorder{}), agora.ENOTFOUND)
		_, err := f.auditor().RecountConversation(f.ctx, c.ID)
		wantCode(t, err, agora.ENOTFOUND)
	})

	t.Run("creates opinions that load in seq order", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		var want []agora.Opinion
		var events []agora.Event
		for range 12 {
			o := f.opinion(c, c.AuthorID)
			want = append(want, *o)
			events = append(events, OpinionCreated(o))
		}
		// Seq, not the order of creation events, orders a conversation's opinions.
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		f.apply(events...)
		wantOpinions(t, f.load(c.ID).opinions, want...)
	})

	t.Run("loads a deleted opinion flagged as deleted with its votes", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		o := f.opinion(c, c.AuthorID)
		at := f.tick()
		f.apply(OpinionCreated(o), VoteCast(c.ID, c.AuthorID, o.ID, agora.Pass, at))
		f.apply(OpinionDeleted(c.ID, o.ID, f.tick()))
		got := f.load(c.ID)
		o.Deleted = true
		wantOpinions(t, got.opinions, *o)
		wantVotes(t, got.votes, agora.StoredVote{ParticipantID: c.AuthorID, OpinionID: o.ID, Vote: agora.Pass, At: at})
	})

	t.Run("moderates an opinion and withdraws the moderation", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		o := f.opinion(c, c.AuthorID)
		f.apply(OpinionCreated(o))
		for _, status := range []agora.OpinionStatus{agora.StatusMoved, agora.StatusHidden} {
			o.Status = status
			o.Moderation = &agora.Moderation{Reason: agora.ReasonAntisocial, Explanation: "Rude.", At: f.tick()}
			f.apply(OpinionModerated(c.ID, o))
			wantOpinions(t, f.load(c.ID).opinions, *o)
		}
		o.Status, o.Moderation = agora.StatusVisible, nil
		f.apply(OpinionModerated(c.ID, o))
		wantOpinions(t, f.load(c.ID).opinions, *o)
	})

	t.Run("ends moderated when an opinion is created then moderated in one batch", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		o := f.opinion(c, c.AuthorID)
		created := OpinionCreated(o)
		m := *o
		m.Status = agora.StatusHidden
		m.Moderation = &agora.Moderation{Reason: agora.ReasonDoxing, Explanation: "", At: f.tick()}
		f.apply(created, OpinionModerated(c.ID, &m))
		wantOpinions(t, f.load(c.ID).opinions, m)
	})

	t.Run("records a cast vote, a changed vote and a cancelled vote", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		o := f.opinion(c, c.AuthorID)
		p := f.participant()
		f.apply(ParticipantCreated(p), OpinionCreated(o))

		at := f.tick()
		f.apply(VoteCast(c.ID, p.ID, o.ID, agora.Agree, at))
		wantVotes(t, f.load(c.ID).votes, agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID, Vote: agora.Agree, At: at})

		at = f.tick()
		f.apply(VoteCast(c.ID, p.ID, o.ID, agora.Disagree, at))
		wantVotes(t, f.load(c.ID).votes, agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID, Vote: agora.Disagree, At: at})

		f.apply(VoteCancelled(c.ID, p.ID, o.ID, f.tick()))
		wantVotes(t, f.load(c.ID).votes)

		// Cancelling a vote that does not exist changes nothing (DELETE is idempotent).
		f.apply(VoteCancelled(c.ID, p.ID, o.ID, f.tick()))
		wantVotes(t, f.load(c.ID).votes)
	})

	t.Run("applies the events of one batch in order", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		o := f.opinion(c, c.AuthorID)
		p, q, r := f.participant(), f.participant(), f.participant()
		f.apply(ParticipantCreated(p), ParticipantCreated(q), ParticipantCreated(r), OpinionCreated(o))

		t1, t2, t3 := f.tick(), f.tick(), f.tick()
		f.apply(
			// p: cast then cancelled: ends without a vote.
			VoteCast(c.ID, p.ID, o.ID, agora.Agree, t1),
			VoteCancelled(c.ID, p.ID, o.ID, t2),
			// q: cancelled (nothing) then cast then changed: ends with the change.
			VoteCancelled(c.ID, q.ID, o.ID, t1),
			VoteCast(c.ID, q.ID, o.ID, agora.Agree, t2),
			VoteCast(c.ID, q.ID, o.ID, agora.Pass, t3),
			// r: cast, cancelled, cast again: ends with the last cast.
			VoteCast(c.ID, r.ID, o.ID, agora.Agree, t1),
			VoteCancelled(c.ID, r.ID, o.ID, t2),
			VoteCast(c.ID, r.ID, o.ID, agora.Disagree, t3),
		)
		wantVotes(t, f.load(c.ID).votes,
			agora.StoredVote{ParticipantID: q.ID, OpinionID: o.ID, Vote: agora.Pass, At: t3},
			agora.StoredVote{ParticipantID: r.ID, OpinionID: o.ID, Vote: agora.Disagree, At: t3})
	})

	t.Run("keeps the last counters of each conversation in a batch", func(t *testing.T) {
		f := newFixture(t, open)
		c1, c2 := f.newConversation(), f.newConversation()
		first := agora.Counters{OpinionCount: 1, VoteCount: 1, ParticipantCount: 1, LastReactedAt: f.tick()}
		other := agora.Counters{OpinionCount: 9, VoteCount: 90, ParticipantCount: 30, LastReactedAt: f.tick()}
		last := agora.Counters{OpinionCount: 2, VoteCount: 5, ParticipantCount: 4, LastReactedAt: f.tick()}
		f.apply(Counters(c1.ID, first), Counters(c2.ID, other), Counters(c1.ID, last))
		wantCounters(t, f.load(c1.ID).conversation.Counters, last)
		wantCounters(t, f.load(c2.ID).conversation.Counters, other)
	})

	t.Run("changes a participant's role", func(t *testing.T) {
		f := newFixture(t, open)
		p := f.participant()
		f.apply(ParticipantCreated(p))
		f.apply(RoleChanged(p.ID, agora.RoleModerator, f.tick()))
		got, err := f.s.Participant(f.ctx, p.ID)
		if err != nil {
			t.Fatalf("Participant: %v", err)
		}
		if got.Role != agora.RoleModerator {
			t.Fatalf("role = %q, want %q", got.Role, agora.RoleModerator)
		}
	})
}

func testApplyAtomicity(t *testing.T, open func(t *testing.T) agora.Store) {
	// Each case ends a batch of valid events with one that no store can
	// accept: the whole batch must be refused with EINVALID and leave no
	// trace, and the store must keep working.
	for _, tc := range []struct {
		name string
		last func(f *fixture, existing *agora.Participant, c *agora.Conversation, o *agora.Opinion) agora.Event
	}{
		{"commits nothing when the last event reuses a token hash", func(f *fixture, existing *agora.Participant, _ *agora.Conversation, _ *agora.Opinion) agora.Event {
			p := f.participant()
			p.TokenHash = existing.TokenHash
			return ParticipantCreated(p)
		}},
		{"commits nothing when the last event reuses a participant id", func(f *fixture, existing *agora.Participant, _ *agora.Conversation, _ *agora.Opinion) agora.Event {
			p := f.participant()
			p.ID = existing.ID
			return ParticipantCreated(p)
		}},
		{"commits nothing when the last event reuses a conversation id", func(f *fixture, existing *agora.Participant, c *agora.Conversation, _ *agora.Opinion) agora.Event {
			d := f.conversation(existing.ID)
			d.ID = c.ID
			return ConversationCreated(d)
		}},
		{"commits nothing when the last event reuses an opinion id", func(f *fixture, _ *agora.Participant, c *agora.Conversation, o *agora.Opinion) agora.Event {
			d := f.opinion(c, c.AuthorID)
			d.ID = o.ID
			return OpinionCreated(d)
		}},
		{"commits nothing when the last event votes on an unknown opinion", func(f *fixture, existing *agora.Participant, c *agora.Conversation, _ *agora.Opinion) agora.Event {
			return VoteCast(c.ID, existing.ID, "no-such-opinion", agora.Agree, f.tick())
		}},
		{"commits nothing when the last event votes by an unknown participant", func(f *fixture, _ *agora.Participant, c *agora.Conversation, o *agora.Opinion) agora.Event {
			return VoteCast(c.ID, "no-such-participant", o.ID, agora.Agree, f.tick())
		}},
		{"commits nothing when the last event votes on an opinion of another conversation", func(f *fixture, existing *agora.Participant, _ *agora.Conversation, o *agora.Opinion) agora.Event {
			other := f.conversation(existing.ID)
			f.apply(ConversationCreated(other))
			return VoteCast(other.ID, existing.ID, o.ID, agora.Agree, f.tick())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, open)
			existing := f.participant()
			f.apply(ParticipantCreated(existing))

			p := f.participant()
			c := f.conversation(p.ID)
			o := f.opinion(c, p.ID)
			at := f.tick()
			batch := []agora.Event{
				ParticipantCreated(p), ConversationCreated(c), OpinionCreated(o),
				VoteCast(c.ID, p.ID, o.ID, agora.Agree, at),
				VoteCast(c.ID, existing.ID, o.ID, agora.Disagree, at),
				Counters(c.ID, agora.Counters{OpinionCount: 1, VoteCount: 2, ParticipantCount: 2, LastReactedAt: at}),
				RoleChanged(existing.ID, agora.RoleModerator, at),
			}
			batch = append(batch, tc.last(f, existing, c, o))
			wantCode(t, f.s.Apply(f.ctx, batch), agora.EINVALID)

			_, err := f.s.Participant(f.ctx, p.ID)
			wantCode(t, err, agora.ENOTFOUND)
			wantCode(t, f.s.LoadConversation(f.ctx, c.ID, &recorder{}), agora.ENOTFOUND)
			got, err := f.s.ParticipantByTokenHash(f.ctx, existing.TokenHash)
			if err != nil {
				t.Fatalf("ParticipantByTokenHash(existing): %v", err)
			}
			wantParticipant(t, got, existing)

			// The store still takes the valid part of the batch.
			f.apply(batch[:len(batch)-1]...)
			wantVotes(t, f.load(c.ID).votes,
				agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID, Vote: agora.Agree, At: at},
				agora.StoredVote{ParticipantID: existing.ID, OpinionID: o.ID, Vote: agora.Disagree, At: at})
		})
	}
}

func testLoadConversation(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("returns not found for an unknown conversation", func(t *testing.T) {
		f := newFixture(t, open)
		wantCode(t, f.s.LoadConversation(f.ctx, "unknown", &recorder{}), agora.ENOTFOUND)
	})

	t.Run("streams the conversation, then its opinions, then its votes", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		var events []agora.Event
		var votes []agora.StoredVote
		for range 5 {
			o := f.opinion(c, c.AuthorID)
			events = append(events, OpinionCreated(o))
			at := f.tick()
			events = append(events, VoteCast(c.ID, c.AuthorID, o.ID, agora.Agree, at))
			votes = append(votes, agora.StoredVote{ParticipantID: c.AuthorID, OpinionID: o.ID, Vote: agora.Agree, At: at})
		}
		f.apply(events...)
		r := f.load(c.ID)
		if len(r.calls) == 0 || r.calls[0] != "conversation" || slices.Index(r.calls[1:], "conversation") >= 0 {
			t.Fatalf("sink calls %v: want the conversation first and once", r.calls)
		}
		if i := slices.Index(r.calls, "vote"); i >= 0 && slices.Index(r.calls[i:], "opinion") >= 0 {
			t.Fatalf("sink calls %v: an opinion came after a vote", r.calls)
		}
		wantVotes(t, r.votes, votes...)
	})

	t.Run("loads only the conversation's own opinions and votes", func(t *testing.T) {
		f := newFixture(t, open)
		c1, c2 := f.newConversation(), f.newConversation()
		o1, o2 := f.opinion(c1, c1.AuthorID), f.opinion(c2, c2.AuthorID)
		at := f.tick()
		f.apply(OpinionCreated(o1), OpinionCreated(o2),
			VoteCast(c1.ID, c1.AuthorID, o1.ID, agora.Agree, at), VoteCast(c2.ID, c1.AuthorID, o2.ID, agora.Pass, at))
		r := f.load(c1.ID)
		wantOpinions(t, r.opinions, *o1)
		wantVotes(t, r.votes, agora.StoredVote{ParticipantID: c1.AuthorID, OpinionID: o1.ID, Vote: agora.Agree, At: at})
	})

	t.Run("stops at the sink's first error and returns it", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		f.apply(OpinionCreated(f.opinion(c, c.AuthorID)), OpinionCreated(f.opinion(c, c.AuthorID)))
		for _, at := range []string{"conversation", "opinion"} {
			stop := errors.New("sink is full")
			r := &recorder{failAt: at, err: stop}
			if err := f.s.LoadConversation(f.ctx, c.ID, r); !errors.Is(err, stop) {
				t.Fatalf("failing at %s: LoadConversation returned %v, want the sink's error", at, err)
			}
			if n := len(r.calls); r.calls[n-1] != at || slices.Index(r.calls, at) != n-1 {
				t.Fatalf("failing at %s: sink calls %v, want none after the failure", at, r.calls)
			}
		}
	})
}

func testListConversations(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("returns an empty last page when nothing is listed", func(t *testing.T) {
		f := newFixture(t, open)
		for _, sort := range []agora.ConversationSort{agora.SortConversationsNew, agora.SortConversationsActive} {
			page, err := f.s.ListConversations(f.ctx, agora.ConversationQuery{Sort: sort, Limit: 10})
			if err != nil {
				t.Fatalf("ListConversations(%s): %v", sort, err)
			}
			if len(page.Items) != 0 || page.NextCursor != nil {
				t.Fatalf("ListConversations(%s) = %d items, cursor %v; want an empty last page", sort, len(page.Items), page.NextCursor)
			}
		}
	})

	t.Run("lists only indexed, unlocked and undeleted conversations with their counters", func(t *testing.T) {
		f := newFixture(t, open)
		listed := f.newConversation()
		unindexed := f.conversation(listed.AuthorID)
		unindexed.IsIndexed = false
		locked, deleted, relocked := f.newConversation(), f.newConversation(), f.newConversation()
		lock := &agora.Lock{Reason: agora.ReasonIllegal, At: f.tick()}
		counters := agora.Counters{OpinionCount: 4, VoteCount: 11, ParticipantCount: 3, LastReactedAt: f.tick()}
		f.apply(ConversationCreated(unindexed), Locked(locked.ID, lock), ConversationDeleted(deleted.ID, f.tick()),
			Locked(relocked.ID, lock), Unlocked(relocked.ID, f.tick()), Counters(listed.ID, counters))
		for _, sort := range []agora.ConversationSort{agora.SortConversationsNew, agora.SortConversationsActive} {
			items := f.listAll(sort, 100)
			if ids := conversationIDs(items); !sameSet(ids, []string{listed.ID, relocked.ID}) {
				t.Fatalf("sort %s listed %v, want %v", sort, ids, []string{listed.ID, relocked.ID})
			}
			for _, c := range items {
				if c.ID == listed.ID {
					wantCounters(t, c.Counters, counters)
				}
				if c.Locked || c.Lock != nil {
					t.Fatalf("sort %s: listed conversation %s is locked", sort, c.ID)
				}
			}
		}
	})

	for _, sort := range []agora.ConversationSort{agora.SortConversationsNew, agora.SortConversationsActive} {
		t.Run(fmt.Sprintf("pages through %s without duplicates or gaps", sort), func(t *testing.T) {
			f := newFixture(t, open)
			author := f.participant()
			f.apply(ParticipantCreated(author))
			rng := rand.New(rand.NewPCG(7, uint64(len(sort))))
			base := f.tick()
			var events []agora.Event
			want := map[string]time.Time{}
			for i := range 53 {
				c := f.conversation(author.ID)
				// Few distinct times, so that many conversations tie on the sort key.
				c.CreatedAt = base.Add(time.Duration(rng.IntN(6)) * time.Second)
				c.LastReactedAt = c.CreatedAt
				events = append(events, ConversationCreated(c))
				key := c.CreatedAt
				if sort == agora.SortConversationsActive && i%3 != 0 {
					key = base.Add(time.Duration(rng.IntN(6)) * time.Minute)
					events = append(events, Counters(c.ID, agora.Counters{LastReactedAt: key}))
				}
				want[c.ID] = key
			}
			f.apply(events...)

			for _, limit := range []int{1, 7, 53, 100} {
				items := f.listAll(sort, limit)
				ids := conversationIDs(items)
				if len(ids) != len(want) || !sameSet(ids, keys(want)) {
					t.Fatalf("limit %d: listed %d conversations (%d distinct), want the %d created", limit, len(ids), len(distinct(ids)), len(want))
				}
				for i := 1; i < len(items); i++ {
					if want[ids[i]].After(want[ids[i-1]]) {
						t.Fatalf("limit %d: %s (%v) listed after %s (%v): not newest first", limit, ids[i], want[ids[i]], ids[i-1], want[ids[i-1]])
					}
				}
				if limit == 7 {
					if again := conversationIDs(f.listAll(sort, 7)); !slices.Equal(again, ids) {
						t.Fatalf("two listings differ: ties are not broken in a stable order")
					}
				}
			}
		})
	}

	t.Run("moves a conversation up the active listing when it gets a reaction", func(t *testing.T) {
		f := newFixture(t, open)
		old, recent := f.newConversation(), f.newConversation()
		ids := conversationIDs(f.listAll(agora.SortConversationsActive, 10))
		if !slices.Equal(ids, []string{recent.ID, old.ID}) {
			t.Fatalf("active listing %v, want %v", ids, []string{recent.ID, old.ID})
		}
		f.apply(Counters(old.ID, agora.Counters{OpinionCount: 1, LastReactedAt: f.tick()}))
		ids = conversationIDs(f.listAll(agora.SortConversationsActive, 10))
		if !slices.Equal(ids, []string{old.ID, recent.ID}) {
			t.Fatalf("active listing after a reaction %v, want %v", ids, []string{old.ID, recent.ID})
		}
		ids = conversationIDs(f.listAll(agora.SortConversationsNew, 10))
		if !slices.Equal(ids, []string{recent.ID, old.ID}) {
			t.Fatalf("new listing after a reaction %v, want %v", ids, []string{recent.ID, old.ID})
		}
	})

	t.Run("rejects a malformed cursor", func(t *testing.T) {
		f := newFixture(t, open)
		for range 3 {
			f.newConversation()
		}
		for _, cursor := range []string{"not a cursor!", "%%%%", "AAAAAAAAAAAA", "\x00\xff"} {
			for _, sort := range []agora.ConversationSort{agora.SortConversationsNew, agora.SortConversationsActive} {
				_, err := f.s.ListConversations(f.ctx, agora.ConversationQuery{Sort: sort, Limit: 1, Cursor: cursor})
				wantCode(t, err, agora.EINVALID)
			}
		}
	})

	t.Run("rejects a limit outside 1 to 100", func(t *testing.T) {
		f := newFixture(t, open)
		for _, limit := range []int{-1, 0, 101} {
			_, err := f.s.ListConversations(f.ctx, agora.ConversationQuery{Sort: agora.SortConversationsNew, Limit: limit})
			wantCode(t, err, agora.EINVALID)
		}
	})

	t.Run("rejects an unknown sort", func(t *testing.T) {
		f := newFixture(t, open)
		_, err := f.s.ListConversations(f.ctx, agora.ConversationQuery{Sort: "popular", Limit: 10})
		wantCode(t, err, agora.EINVALID)
	})
}

func testParticipants(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("finds a participant by id and by token hash", func(t *testing.T) {
		f := newFixture(t, open)
		p := f.participant()
		p.DisplayName, p.ExternalID = "Ada", "polis-17"
		f.apply(ParticipantCreated(p))
		got, err := f.s.Participant(f.ctx, p.ID)
		if err != nil {
			t.Fatalf("Participant: %v", err)
		}
		wantParticipant(t, got, p)
		got, err = f.s.ParticipantByTokenHash(f.ctx, p.TokenHash)
		if err != nil {
			t.Fatalf("ParticipantByTokenHash: %v", err)
		}
		wantParticipant(t, got, p)
	})

	t.Run("returns not found for an unknown id or token hash", func(t *testing.T) {
		f := newFixture(t, open)
		f.apply(ParticipantCreated(f.participant()))
		_, err := f.s.Participant(f.ctx, "nobody")
		wantCode(t, err, agora.ENOTFOUND)
		_, err = f.s.ParticipantByTokenHash(f.ctx, agora.HashToken("unknown token"))
		wantCode(t, err, agora.ENOTFOUND)
	})

	t.Run("never finds an imported participant by token hash", func(t *testing.T) {
		f := newFixture(t, open)
		a, b := f.participant(), f.participant()
		a.TokenHash, b.TokenHash = [32]byte{}, [32]byte{}
		a.ExternalID, b.ExternalID = "0", "1"
		// Two imported participants: a missing token is not a shared one.
		f.apply(ParticipantCreated(a), ParticipantCreated(b))
		_, err := f.s.ParticipantByTokenHash(f.ctx, [32]byte{})
		wantCode(t, err, agora.ENOTFOUND)
		got, err := f.s.Participant(f.ctx, b.ID)
		if err != nil {
			t.Fatalf("Participant(imported): %v", err)
		}
		wantParticipant(t, got, b)
	})
}

func testRecount(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("returns not found for an unknown conversation", func(t *testing.T) {
		f := newFixture(t, open)
		_, err := f.auditor().RecountConversation(f.ctx, "unknown")
		wantCode(t, err, agora.ENOTFOUND)
	})

	t.Run("counts visible opinions, their current votes and voters from the rows", func(t *testing.T) {
		f := newFixture(t, open)
		m := newModel(f, 3, 25, 15)
		rng := rand.New(rand.NewPCG(42, 43))
		for range 40 {
			// Counters events carry deliberately wrong counts: a recount must
			// come from the rows, not from the stored counters.
			f.apply(m.batch(rng, 1+rng.IntN(60), true)...)
		}
		for _, c := range m.conversations {
			got, err := f.auditor().RecountConversation(f.ctx, c.ID)
			if err != nil {
				t.Fatalf("RecountConversation(%s): %v", c.ID, err)
			}
			wantCounters(t, got, m.counters(c.ID))
			m.check(t, f.load(c.ID))
		}
	})
}

func testConcurrency(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("serves reads while batches commit", func(t *testing.T) {
		f := newFixture(t, open)
		m := newModel(f, 2, 20, 10)
		rng := rand.New(rand.NewPCG(5, 6))
		batches := make([][]agora.Event, 30)
		for i := range batches {
			batches[i] = m.batch(rng, 40, false)
		}

		ctx, cancel := context.WithCancel(f.ctx)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					for _, c := range m.conversations {
						if err := f.s.LoadConversation(ctx, c.ID, &recorder{}); err != nil && ctx.Err() == nil {
							errs <- fmt.Errorf("LoadConversation: %w", err)
							return
						}
					}
					if _, err := f.s.ListConversations(ctx, agora.ConversationQuery{Sort: agora.SortConversationsActive, Limit: 10}); err != nil && ctx.Err() == nil {
						errs <- fmt.Errorf("ListConversations: %w", err)
						return
					}
				}
			})
		}
		for _, b := range batches {
			if err := f.s.Apply(f.ctx, b); err != nil {
				t.Errorf("Apply: %v", err)
				break
			}
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, c := range m.conversations {
			m.check(t, f.load(c.ID))
		}
	})
}

// auditor returns the store as an agora.Auditor, which every store
// implements for the load generator's verification.
func (f *fixture) auditor() agora.Auditor {
	f.t.Helper()
	a, ok := f.s.(agora.Auditor)
	if !ok {
		f.t.Fatalf("%T does not implement agora.Auditor", f.s)
	}
	return a
}

func conversationIDs(cs []agora.Conversation) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func keys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func distinct(ids []string) []string {
	s := slices.Clone(ids)
	sort.Strings(s)
	return slices.Compact(s)
}

// sameSet reports whether a and b hold the same ids, each once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) || len(distinct(a)) != len(a) {
		return false
	}
	return slices.Equal(distinct(a), distinct(b))
}
