package actors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

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
			var held *heldSnapshot
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
				if held != nil {
					if err := held.unchanged(); err != nil {
						t.Fatalf("step %d after %T: the snapshot taken at step %d changed: %v", step, cmd, held.step, err)
					}
				}
				if step%50 == 0 {
					held = holdSnapshot(checkSnapshotColumns(t, s), step)
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
// counters, events) on a conversation of 1,000 opinions; with snapshots,
// the actor also takes the math's snapshot every 10,000 votes, as a busy
// conversation does (about 25,000 votes/s, an analysis every 0.5 s), and
// the votes pay for the copy-on-write of the rows it shares.
func BenchmarkActorVotes(b *testing.B) {
	for _, tc := range []struct {
		voters, snapshotEvery int
	}{{1_000, 0}, {100_000, 0}, {1_000, 10_000}, {100_000, 10_000}} {
		voters := tc.voters
		name := fmt.Sprintf("voters=%d", voters)
		if tc.snapshotEvery > 0 {
			name += "/with-snapshots"
		}
		b.Run(name, func(b *testing.B) {
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
				if tc.snapshotEvery > 0 && i%tc.snapshotEvery == 0 {
					s.snapshotForMath()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "votes/s")
		})
	}
}

// heldSnapshot is a snapshot kept while the actor goes on writing, with a
// deep copy of what it showed when it was taken: the snapshot shares the
// actor's rows and columns, so the copy-on-write must keep it unchanged.
type heldSnapshot struct {
	snap, frozen *mathSnapshot
	step         int
}

func holdSnapshot(snap *mathSnapshot, step int) *heldSnapshot {
	f := *snap
	f.opinionIDs = slices.Clone(snap.opinionIDs)
	f.counted = slices.Clone(snap.counted)
	f.metaSeqs = slices.Clone(snap.metaSeqs)
	f.opinionExternalIDs = slices.Clone(snap.opinionExternalIDs)
	f.voterIDs = slices.Clone(snap.voterIDs)
	f.rows = make([][]voteCell, len(snap.rows))
	for i, r := range snap.rows {
		f.rows[i] = slices.Clone(r)
	}
	return &heldSnapshot{snap: snap, frozen: &f, step: step}
}

func (h *heldSnapshot) unchanged() error {
	a, b := h.snap, h.frozen
	switch {
	case !slices.Equal(a.opinionIDs, b.opinionIDs):
		return fmt.Errorf("opinion ids %v, were %v", a.opinionIDs, b.opinionIDs)
	case !slices.Equal(a.counted, b.counted):
		return fmt.Errorf("counted %v, were %v", a.counted, b.counted)
	case !slices.Equal(a.metaSeqs, b.metaSeqs):
		return fmt.Errorf("meta %v, were %v", a.metaSeqs, b.metaSeqs)
	case !slices.Equal(a.opinionExternalIDs, b.opinionExternalIDs):
		return fmt.Errorf("external ids %v, were %v", a.opinionExternalIDs, b.opinionExternalIDs)
	case !slices.Equal(a.voterIDs, b.voterIDs):
		return fmt.Errorf("voter ids %v, were %v", a.voterIDs, b.voterIDs)
	case len(a.rows) != len(b.rows):
		return fmt.Errorf("%d rows, were %d", len(a.rows), len(b.rows))
	}
	for i := range a.rows {
		if !slices.Equal(a.rows[i], b.rows[i]) {
			return fmt.Errorf("row %d (%s) %v, was %v", i, a.voterIDs[i], a.rows[i], b.rows[i])
		}
	}
	return nil
}

// checkSnapshotColumns compares the opinion part of the math's snapshot,
// built from the actor's columns, with the same read from every opinion,
// and its vote rows with the actor's; it returns the snapshot.
func checkSnapshotColumns(t *testing.T, s *conversation) *mathSnapshot {
	t.Helper()
	var ids, ext, meta, moderated []string
	anyExt := false
	for _, o := range s.opinions {
		if o.Deleted {
			ids, ext = append(ids, ""), append(ext, "")
			continue
		}
		ids, ext = append(ids, o.ID), append(ext, o.ExternalID)
		anyExt = anyExt || o.ExternalID != ""
		if o.IsMeta {
			meta = append(meta, o.ID)
		}
		if o.Status != agora.StatusVisible {
			moderated = append(moderated, o.ID)
		}
	}
	if !anyExt {
		ext = nil
	}
	snap := s.snapshotForMath()
	snap.prepare()
	for _, c := range []struct {
		name      string
		got, want []string
	}{{"ids", snap.opinionIDs, ids}, {"external ids", snap.opinionExternalIDs, ext}, {"meta", snap.meta, meta}, {"moderated out", snap.moderatedOut, moderated}} {
		if !slices.Equal(c.got, c.want) {
			t.Fatalf("snapshot %s %v, from the opinions %v", c.name, c.got, c.want)
		}
	}
	for seq, o := range s.opinions {
		if s.countedBySeq[seq] != o.counted() {
			t.Fatalf("opinion %d: counted column %v, opinion %v", seq, s.countedBySeq[seq], o.counted())
		}
	}
	if len(snap.cells) != len(s.voters) {
		t.Fatalf("snapshot of %d voters has %d rows of cells", len(s.voters), len(snap.cells))
	}
	if len(snap.voterIDs) != len(s.voters) || len(s.voterIDs) != len(s.voters) {
		t.Fatalf("%d voters, %d ids in the actor, %d in the snapshot", len(s.voters), len(s.voterIDs), len(snap.voterIDs))
	}
	for i, row := range s.voters {
		got := snap.cells[i]
		if snap.voterIDs[i] != s.voterIDs[i] || s.voterByID[s.voterIDs[i]] != int32(i) || len(got) != len(row.cells) {
			t.Fatalf("snapshot row %d is %s with %d cells, actor %s with %d", i, snap.voterIDs[i], len(got), s.voterIDs[i], len(row.cells))
		}
		for j, c := range row.cells {
			if got[j].Statement != c.opinion || int(got[j].Vote) != int(c.vote) {
				t.Fatalf("snapshot row %s cell %d is %+v, actor %+v", s.voterIDs[i], j, got[j], c)
			}
		}
	}
	return snap
}

// An imported conversation's columns (external ids, meta statements,
// opinions loaded moved or deleted) follow deletions and moderation.
func TestSnapshotColumnsOfAnImport(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	s := newConversation(agora.Conversation{ID: "c"})
	s.LoadOpinion(agora.Opinion{ID: "native", ConversationID: "c", Status: agora.StatusVisible, Seq: 0})
	for seq := 1; seq < 60; seq++ {
		o := agora.Opinion{ID: fmt.Sprint("o", seq), ConversationID: "c", Status: agora.StatusVisible, Seq: seq}
		if rng.IntN(3) > 0 {
			o.ExternalID = fmt.Sprint(seq)
		}
		o.IsMeta = rng.IntN(5) == 0
		if rng.IntN(5) == 0 {
			o.Status = agora.StatusMoved
		}
		o.Deleted = rng.IntN(8) == 0
		if err := s.LoadOpinion(o); err != nil {
			t.Fatal(err)
		}
	}
	s.finishLoad()
	held := holdSnapshot(checkSnapshotColumns(t, s), 0)
	now := time.Unix(1_700_000_000, 0).UTC()
	for step := range 200 {
		oid := s.opinions[rng.IntN(len(s.opinions))].ID
		var cmd command = deleteOpinion{caller: agora.Caller{Admin: true}, oid: oid}
		if rng.IntN(4) > 0 {
			in := &agora.ModerationInput{Action: agora.ActionHide, Reason: agora.ReasonSpam}
			if rng.IntN(2) == 0 {
				in = nil
			}
			cmd = moderateOpinion{caller: agora.Caller{Admin: true}, oid: oid, in: in}
		}
		cmd.apply(s, now)
		if err := held.unchanged(); err != nil {
			t.Fatalf("step %d: the snapshot taken at step %d changed: %v", step, held.step, err)
		}
		if step%10 == 0 {
			held = holdSnapshot(checkSnapshotColumns(t, s), step)
		}
	}
	// Deleting every opinion with an external id leaves none in the snapshot.
	for _, o := range s.opinions {
		if o.ExternalID != "" && !o.Deleted {
			deleteOpinion{caller: agora.Caller{Admin: true}, oid: o.ID}.apply(s, now)
		}
	}
	checkSnapshotColumns(t, s)
	if s.snapshotForMath().opinionExternalIDs != nil {
		t.Fatal("external ids in the snapshot though every opinion that had one is deleted")
	}
}

// A loaded conversation keeps its rows in one array, and edits after the load
// (inserting, changing and cancelling votes, with and without a snapshot
// reading the rows) change only the row they are for.
func TestLoadedRowsAreCompactAndEditsStayInTheirRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	const opinions, voters = 30, 40
	s := newConversation(agora.Conversation{ID: "c"})
	for seq := range opinions {
		if err := s.LoadOpinion(agora.Opinion{ID: fmt.Sprint("o", seq), ConversationID: "c", Status: agora.StatusVisible, Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[[2]int]agora.Vote{} // {voter, opinion} -> vote
	pid := func(p int) string { return fmt.Sprint("p", p) }
	for range 400 {
		p, o := rng.IntN(voters), rng.IntN(opinions)
		if _, ok := want[[2]int{p, o}]; ok {
			continue
		}
		v := agora.Vote(rng.IntN(3) - 1)
		want[[2]int{p, o}] = v
		if err := s.LoadVote(agora.StoredVote{ParticipantID: pid(p), OpinionID: fmt.Sprint("o", o), Vote: v}); err != nil {
			t.Fatal(err)
		}
	}
	s.finishLoad()

	// One array: each row ends where the next begins, and has no room to
	// grow into its neighbour.
	var next unsafe.Pointer // one past the previous row's end
	for i := range s.voters {
		c := s.voters[i].cells
		if len(c) == 0 {
			continue
		}
		if cap(c) != len(c) {
			t.Fatalf("row %s has capacity %d for %d cells", s.voterIDs[i], cap(c), len(c))
		}
		if next != nil && unsafe.Pointer(&c[0]) != next {
			t.Fatalf("row %s does not follow the row before it", s.voterIDs[i])
		}
		next = unsafe.Add(unsafe.Pointer(&c[0]), uintptr(len(c))*unsafe.Sizeof(c[0]))
	}

	check := func(step int) {
		t.Helper()
		n := 0
		for i := range s.voters {
			row, id := &s.voters[i], s.voterIDs[i]
			var p int
			if _, err := fmt.Sscan(id[1:], &p); err != nil {
				t.Fatal(err)
			}
			for j, c := range row.cells {
				if j > 0 && row.cells[j-1].opinion >= c.opinion {
					t.Fatalf("step %d: row %s out of order", step, id)
				}
				if v, ok := want[[2]int{p, int(c.opinion)}]; !ok || v != c.vote {
					t.Fatalf("step %d: row %s holds %d on o%d, want %v (present %v)", step, id, c.vote, c.opinion, v, ok)
				}
			}
			n += len(row.cells)
		}
		if n != len(want) {
			t.Fatalf("step %d: %d cells in the rows, want %d", step, n, len(want))
		}
	}
	check(-1)
	var held *heldSnapshot
	for step := range 2000 {
		if step%50 == 0 {
			held = holdSnapshot(s.snapshotForMath(), step)
		}
		p, o := rng.IntN(voters), rng.IntN(opinions)
		key := [2]int{p, o}
		if _, ok := want[key]; ok && rng.IntN(3) == 0 {
			s.cancelVote(pid(p), int32(o))
			delete(want, key)
		} else {
			v := agora.Vote(rng.IntN(3) - 1)
			s.setVote(pid(p), int32(o), v)
			want[key] = v
		}
		check(step)
		if err := held.unchanged(); err != nil {
			t.Fatalf("step %d: the snapshot taken at step %d changed: %v", step, held.step, err)
		}
	}
}
