package actors

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// recount computes the counters from the rows, by definition.
func recount(s *conversation) agora.Counters {
	var c agora.Counters
	for _, o := range s.opinions {
		if o.counted() {
			c.OpinionCount++
		}
	}
	for _, row := range s.voters {
		n := 0
		for _, cell := range row.cells {
			if s.opinions[cell.opinion].counted() {
				n++
			}
		}
		c.VoteCount += n
		if n > 0 {
			c.ParticipantCount++
		}
	}
	c.LastReactedAt = s.conv.LastReactedAt
	return c
}

func TestConversationCountersStayExactUnderRandomOperations(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			s := newConversation(agora.Conversation{ID: "c"})
			now := time.Unix(1_700_000_000, 0).UTC()
			model := map[[2]string]agora.Vote{}
			for step := range 3000 {
				now = now.Add(time.Millisecond)
				pid := fmt.Sprint("p", rng.IntN(30))
				var cmd command
				switch r := rng.IntN(100); {
				case r < 5 || len(s.opinions) == 0:
					cmd = createOpinion{caller: agora.Caller{ParticipantID: pid}, text: "t"}
				case r < 70:
					cmd = castVote{caller: agora.Caller{ParticipantID: pid}, oid: s.opinions[rng.IntN(len(s.opinions))].ID, vote: agora.Vote(rng.IntN(3) - 1)}
				case r < 85:
					cmd = cancelVote{caller: agora.Caller{ParticipantID: pid}, oid: s.opinions[rng.IntN(len(s.opinions))].ID}
				case r < 95:
					in := &agora.ModerationInput{Action: agora.ActionMove, Reason: agora.ReasonSpam}
					if rng.IntN(2) == 0 {
						in = nil
					} else if rng.IntN(2) == 0 {
						in.Action = agora.ActionHide
					}
					cmd = moderateOpinion{caller: agora.Caller{Admin: true}, oid: s.opinions[rng.IntN(len(s.opinions))].ID, in: in}
				default:
					cmd = deleteOpinion{caller: agora.Caller{Admin: true}, oid: s.opinions[rng.IntN(len(s.opinions))].ID}
				}
				before := s.conv.Counters
				res, events, err := cmd.apply(s, now)
				if err != nil && len(events) > 0 {
					t.Fatalf("step %d: events with an error", step)
				}
				if err != nil && s.conv.Counters != before {
					t.Fatalf("step %d: %T failed with %v but changed the counters", step, cmd, err)
				}
				switch c := cmd.(type) {
				case createOpinion:
					model[[2]string{pid, res.(*agora.OpinionView).ID}] = agora.Agree
				case castVote:
					if err == nil {
						model[[2]string{pid, c.oid}] = c.vote
					}
				case cancelVote:
					if err == nil {
						delete(model, [2]string{pid, c.oid})
					}
				}
				if got, want := s.conv.Counters, recount(s); got != want {
					t.Fatalf("step %d after %T: counters %+v, recount %+v", step, cmd, got, want)
				}
			}
			// The vote set agrees with the model for every live opinion.
			for k, v := range model {
				o, ok := s.opinionByID[k[1]]
				if !ok {
					continue // deleted
				}
				if got, found := s.voteOf(k[0], o); !found || got != v {
					t.Fatalf("vote of %s on %s = %v (found %v), want %v", k[0], k[1], got, found, v)
				}
			}
		})
	}
}

func TestConversationLastReactedAtMovesOnlyOnChanges(t *testing.T) {
	s := newConversation(agora.Conversation{ID: "c"})
	t0 := time.Unix(1_700_000_000, 0).UTC()
	s.conv.LastReactedAt = t0
	res, _, err := createOpinion{caller: agora.Caller{ParticipantID: "a"}, text: "x"}.apply(s, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	oid := res.(*agora.OpinionView).ID
	if !s.conv.LastReactedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("new opinion did not move last_reacted_at")
	}
	// The author's agree vote exists: agreeing again is a no-op.
	_, events, _ := castVote{caller: agora.Caller{ParticipantID: "a"}, oid: oid, vote: agora.Agree}.apply(s, t0.Add(2*time.Second))
	if len(events) != 0 || !s.conv.LastReactedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("a no-op vote moved last_reacted_at or produced events")
	}
	castVote{caller: agora.Caller{ParticipantID: "a"}, oid: oid, vote: agora.Pass}.apply(s, t0.Add(3*time.Second))
	if !s.conv.LastReactedAt.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("a changed vote did not move last_reacted_at")
	}
}

func TestVotesOnModeratedOpinionsAndLockedConversations(t *testing.T) {
	s := newConversation(agora.Conversation{ID: "c"})
	now := time.Now()
	res, _, _ := createOpinion{caller: agora.Caller{ParticipantID: "a"}, text: "x"}.apply(s, now)
	oid := res.(*agora.OpinionView).ID
	moderateOpinion{caller: agora.Caller{Admin: true}, oid: oid, in: &agora.ModerationInput{Action: agora.ActionHide, Reason: agora.ReasonSpam}}.apply(s, now)
	for _, cmd := range []command{
		castVote{caller: agora.Caller{ParticipantID: "b"}, oid: oid, vote: agora.Agree},
		cancelVote{caller: agora.Caller{ParticipantID: "a"}, oid: oid},
	} {
		if _, _, err := cmd.apply(s, now); agora.ErrorCode(err) != agora.EMODERATED {
			t.Errorf("%T on a hidden opinion: %v, want %s", cmd, err, agora.EMODERATED)
		}
	}
	lockConversation{caller: agora.Caller{Admin: true}, in: &agora.LockInput{Reason: agora.ReasonSpam}}.apply(s, now)
	for _, cmd := range []command{
		castVote{caller: agora.Caller{ParticipantID: "b"}, oid: oid, vote: agora.Agree},
		createOpinion{caller: agora.Caller{ParticipantID: "b"}, text: "y"},
	} {
		if _, _, err := cmd.apply(s, now); agora.ErrorCode(err) != agora.ELOCKED {
			t.Errorf("%T in a locked conversation: %v, want %s", cmd, err, agora.ELOCKED)
		}
	}
}

// BenchmarkActorVotes measures votes applied inside one actor, without
// I/O: the command as the actor runs it (validation, vote set, tallies,
// counters, events) on a conversation of 1,000 opinions.
func BenchmarkActorVotes(b *testing.B) {
	for _, voters := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("voters=%d", voters), func(b *testing.B) {
			s := newConversation(agora.Conversation{ID: "c"})
			now := time.Now()
			for i := range 1000 {
				createOpinion{caller: agora.Caller{ParticipantID: fmt.Sprint("author", i)}, text: "t"}.apply(s, now)
			}
			pids := make([]string, voters)
			for i := range pids {
				pids[i] = fmt.Sprint("p", i)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			cmds := make([]castVote, 1<<16)
			for i := range cmds {
				cmds[i] = castVote{
					caller: agora.Caller{ParticipantID: pids[rng.IntN(voters)]},
					oid:    s.opinions[rng.IntN(1000)].ID,
					vote:   agora.Vote(rng.IntN(3) - 1),
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := cmds[i&(len(cmds)-1)].apply(s, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "votes/s")
		})
	}
}
