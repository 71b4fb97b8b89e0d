package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/agora-dev/agora"
)

// newImport returns an import of a conversation by the admin with
// participants (every third with an external id) and opinions (the third
// moved, the fifth a meta statement), voters voting on a random subset,
// some twice (a re-vote in the history), and counters computed from the
// rows. It is not applied.
func (f *fixture) newImport(rng *rand.Rand, participants, opinions int) *agora.Import {
	c := f.conversation(agora.AdminAuthorID)
	im := &agora.Import{}
	for i := range participants {
		p := agora.Participant{ID: f.id("ip"), Role: agora.RoleParticipant, CreatedAt: f.tick()}
		if i%3 == 0 {
			p.ExternalID = fmt.Sprint(i)
		}
		im.Participants = append(im.Participants, p)
	}
	for i := range opinions {
		o := f.opinion(c, im.Participants[i%participants].ID)
		o.ExternalID = fmt.Sprint(100 + i)
		if i%7 == 2 {
			o.Status = agora.StatusMoved
		}
		o.IsMeta = i%7 == 4
		im.Opinions = append(im.Opinions, *o)
	}
	for _, p := range im.Participants {
		for _, o := range im.Opinions {
			if rng.IntN(3) == 0 {
				continue
			}
			if rng.IntN(5) == 0 {
				im.History = append(im.History, agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID,
					Vote: agora.Vote(rng.IntN(3) - 1), At: f.tick()})
			}
			v := agora.StoredVote{ParticipantID: p.ID, OpinionID: o.ID, Vote: agora.Vote(rng.IntN(3) - 1), At: f.tick()}
			im.History = append(im.History, v)
			im.Votes = append(im.Votes, v)
		}
	}
	slices.SortStableFunc(im.History, func(a, b agora.StoredVote) int { return a.At.Compare(b.At) })
	c.Counters = agora.Counters{}
	im.Conversation = *c
	im.Conversation.Counters = im.ComputeCounters()
	return im
}

func (f *fixture) history(cid string) []agora.HistoryVote {
	f.t.Helper()
	var out []agora.HistoryVote
	if err := f.s.VoteHistory(f.ctx, cid, func(h agora.HistoryVote) error {
		h.At = h.At.UTC()
		out = append(out, h)
		return nil
	}); err != nil {
		f.t.Fatalf("VoteHistory(%s): %v", cid, err)
	}
	return out
}

func testImport(t *testing.T, open func(t *testing.T) agora.Store) {
	t.Run("imports a conversation that loads with its rows and counters", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(1, 1)), 7, 9)
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatalf("ImportConversation: %v", err)
		}
		got := f.load(im.Conversation.ID)
		wantConversation(t, got.conversation, im.Conversation)
		wantOpinions(t, got.opinions, im.Opinions...)
		wantVotes(t, got.votes, im.Votes...)
		rc, err := f.auditor().RecountConversation(f.ctx, im.Conversation.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantCounters(t, rc, im.Conversation.Counters)
		for _, p := range im.Participants {
			got, err := f.s.Participant(f.ctx, p.ID)
			if err != nil {
				t.Fatalf("Participant(%s): %v", p.ID, err)
			}
			wantParticipant(t, got, &p)
		}
	})

	t.Run("imports at epoch 1, so that the first activation claims epoch 2", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(2, 2)), 3, 3)
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatal(err)
		}
		if epoch, err := f.s.ClaimConversation(f.ctx, im.Conversation.ID, "n"); err != nil || epoch != 2 {
			t.Fatalf("claim = %d, %v; want 2", epoch, err)
		}
	})

	t.Run("imports thousands of rows through the bulk path", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(3, 3)), 150, 40)
		if len(im.Votes) < 3000 {
			t.Fatalf("only %d votes: the case should need several bulk executions", len(im.Votes))
		}
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatal(err)
		}
		wantVotes(t, f.load(im.Conversation.ID).votes, im.Votes...)
		if got := len(f.history(im.Conversation.ID)); got != len(im.History) {
			t.Fatalf("%d history rows, want %d", got, len(im.History))
		}
	})

	t.Run("streams the vote history in commit order with cancels flagged", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(4, 4)), 4, 3)
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatal(err)
		}
		cid := im.Conversation.ID
		epoch, err := f.s.ClaimConversation(f.ctx, cid, "n")
		if err != nil {
			t.Fatal(err)
		}
		p, o := im.Participants[0].ID, im.Opinions[0].ID
		cast, cancel := f.tick(), f.tick()
		f.apply(stamp(epoch, VoteCast(cid, p, o, agora.Disagree, cast), VoteCancelled(cid, p, o, cancel))...)
		var want []agora.HistoryVote
		for _, v := range im.History {
			want = append(want, agora.HistoryVote{StoredVote: v})
		}
		want = append(want,
			agora.HistoryVote{StoredVote: agora.StoredVote{ParticipantID: p, OpinionID: o, Vote: agora.Disagree, At: cast}},
			agora.HistoryVote{StoredVote: agora.StoredVote{ParticipantID: p, OpinionID: o, At: cancel}, Cancelled: true})
		got := f.history(cid)
		for i := range got {
			if got[i].Cancelled {
				got[i].Vote = 0
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("history\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("lists the participants who voted or wrote an opinion, once each", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(5, 5)), 6, 4)
		// A participant of the import who neither votes nor writes is not listed.
		idle := agora.Participant{ID: f.id("idle"), Role: agora.RoleParticipant, CreatedAt: f.tick()}
		im.Participants = append(im.Participants, idle)
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatal(err)
		}
		other := f.newConversation() // its author must not be listed
		want := map[string]string{}
		for _, v := range im.History {
			want[v.ParticipantID] = ""
		}
		for _, o := range im.Opinions {
			want[o.AuthorID] = ""
		}
		for _, p := range im.Participants {
			if _, ok := want[p.ID]; ok {
				want[p.ID] = p.ExternalID
			}
		}
		got := map[string]string{}
		err := f.s.ConversationParticipants(f.ctx, im.Conversation.ID, func(p agora.Participant) error {
			if _, dup := got[p.ID]; dup {
				t.Errorf("participant %s listed twice", p.ID)
			}
			got[p.ID] = p.ExternalID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got[other.AuthorID]; ok || len(got) != len(want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
		for id, ext := range want {
			if got[id] != ext {
				t.Fatalf("participant %s: external id %q, want %q", id, got[id], ext)
			}
		}
	})

	t.Run("returns not found for the history or participants of an unknown conversation", func(t *testing.T) {
		f := newFixture(t, open)
		wantCode(t, f.s.VoteHistory(f.ctx, "nope", func(agora.HistoryVote) error { return nil }), agora.ENOTFOUND)
		wantCode(t, f.s.ConversationParticipants(f.ctx, "nope", func(agora.Participant) error { return nil }), agora.ENOTFOUND)
	})

	t.Run("stops the history at fn's first error and returns it", func(t *testing.T) {
		f := newFixture(t, open)
		im := f.newImport(rand.New(rand.NewPCG(6, 6)), 4, 4)
		if err := f.s.ImportConversation(f.ctx, im); err != nil {
			t.Fatal(err)
		}
		stop := agora.Errorf(agora.EINVALID, "stop")
		n := 0
		err := f.s.VoteHistory(f.ctx, im.Conversation.ID, func(agora.HistoryVote) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("VoteHistory returned %v after %d calls, want the sink's error after 1", err, n)
		}
	})

	testImportAtomicity(t, open)
}

// testImportAtomicity checks that a refused import writes nothing, whether
// the import's own checks or the store's constraints refuse it.
func testImportAtomicity(t *testing.T, open func(t *testing.T) agora.Store) {
	for _, tc := range []struct {
		name  string
		spoil func(f *fixture, im *agora.Import)
	}{
		{"a vote by a participant who is not in the import", func(f *fixture, im *agora.Import) {
			im.Votes[len(im.Votes)-1].ParticipantID = "stranger"
		}},
		{"a history vote on an opinion that is not in the import", func(f *fixture, im *agora.Import) {
			im.History[len(im.History)-1].OpinionID = "nowhere"
		}},
		{"a vote outside -1, 0 and 1", func(f *fixture, im *agora.Import) { im.Votes[0].Vote = 2 }},
		{"two current votes of one participant on one opinion", func(f *fixture, im *agora.Import) {
			im.Votes = append(im.Votes, im.Votes[0])
			im.Conversation.Counters = im.ComputeCounters()
		}},
		{"counters that are not those of the rows", func(f *fixture, im *agora.Import) { im.Conversation.VoteCount++ }},
		{"opinions out of seq order", func(f *fixture, im *agora.Import) {
			im.Opinions[0].Seq, im.Opinions[1].Seq = 1, 0
		}},
		{"a participant id that already exists in the store (a constraint)", func(f *fixture, im *agora.Import) {
			p := f.participant()
			f.apply(ParticipantCreated(p))
			last := &im.Participants[len(im.Participants)-1]
			for _, vs := range []*[]agora.StoredVote{&im.Votes, &im.History} {
				for i := range *vs {
					if (*vs)[i].ParticipantID == last.ID {
						(*vs)[i].ParticipantID = p.ID
					}
				}
			}
			last.ID = p.ID
		}},
		{"an opinion id that already exists in the store (a constraint)", func(f *fixture, im *agora.Import) {
			c := f.newConversation()
			o := f.opinion(c, c.AuthorID)
			f.apply(OpinionCreated(o))
			old := im.Opinions[len(im.Opinions)-1].ID
			im.Opinions[len(im.Opinions)-1].ID = o.ID
			for _, vs := range []*[]agora.StoredVote{&im.Votes, &im.History} {
				for i := range *vs {
					if (*vs)[i].OpinionID == old {
						(*vs)[i].OpinionID = o.ID
					}
				}
			}
		}},
	} {
		t.Run("writes nothing for "+tc.name, func(t *testing.T) {
			f := newFixture(t, open)
			im := f.newImport(rand.New(rand.NewPCG(7, 7)), 5, 4)
			tc.spoil(f, im)
			wantCode(t, f.s.ImportConversation(f.ctx, im), agora.EINVALID)
			wantCode(t, f.s.LoadConversation(f.ctx, im.Conversation.ID, &recorder{}), agora.ENOTFOUND)
			for _, p := range im.Participants[:len(im.Participants)-1] {
				if _, err := f.s.Participant(f.ctx, p.ID); agora.ErrorCode(err) != agora.ENOTFOUND {
					t.Fatalf("participant %s of the refused import: %v, want not found", p.ID, err)
				}
			}
		})
	}
	t.Run("refuses a conversation id that exists, changing nothing", func(t *testing.T) {
		f := newFixture(t, open)
		c := f.newConversation()
		im := f.newImport(rand.New(rand.NewPCG(8, 8)), 3, 3)
		im.Conversation.ID = c.ID
		for i := range im.Opinions {
			im.Opinions[i].ConversationID = c.ID
		}
		wantCode(t, f.s.ImportConversation(f.ctx, im), agora.EINVALID)
		got := f.load(c.ID)
		wantConversation(t, got.conversation, *c)
		if len(got.opinions) != 0 {
			t.Fatalf("the existing conversation has %d opinions after a refused import", len(got.opinions))
		}
	})
}
