package polismath

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unsafe"
)

// liveVotes is a conversation's vote rows as an actor keeps them: a changed row
// is a new array, the others stay where they are.
type liveVotes struct {
	rng          *rand.Rand
	participants []string
	statements   []string
	rows         [][]Cell
	// vote, when not nil, is the vote participant r casts on column j;
	// otherwise votes are random.
	vote func(r int, j int32) Vote
}

func (l *liveVotes) addStatements(n int) {
	for range n {
		l.statements = append(l.statements, fmt.Sprintf("s%d", len(l.statements)))
	}
}

// deleteStatement deletes statement j as an actor does: its id becomes "" in a
// new list (the Matrices before keep theirs), its votes stay in the rows.
func (l *liveVotes) deleteStatement(j int) {
	l.statements = slices.Clone(l.statements)
	l.statements[j] = ""
}

func (l *liveVotes) addParticipants(n int) {
	for range n {
		l.participants = append(l.participants, fmt.Sprintf("p%d", len(l.participants)))
		l.rows = append(l.rows, nil)
	}
}

// set gives participant r a vote on column j (remove: none), in a new array.
func (l *liveVotes) set(r int, j int32, v Vote, remove bool) {
	if l.vote != nil {
		v = l.vote(r, j)
	}
	row := slices.Clone(l.rows[r])
	at, found := slices.BinarySearchFunc(row, j, func(c Cell, j int32) int { return int(c.Statement - j) })
	switch {
	case remove && found:
		row = slices.Delete(row, at, at+1)
	case remove:
	case found:
		row[at].Vote = v
	default:
		row = slices.Insert(row, at, Cell{Statement: j, Vote: v})
	}
	l.rows[r] = row
}

// start gives the conversation its first statements and participants, each
// participant with 1 to most votes.
func (l *liveVotes) start(statements, participants, most int) {
	l.addStatements(statements)
	l.addParticipants(participants)
	for r := range l.rows {
		for range 1 + l.rng.IntN(most) {
			l.set(r, int32(l.rng.IntN(len(l.statements))), Vote(l.rng.IntN(3)-1), false)
		}
	}
}

// update makes the changes of update step: a few changed, added and deleted
// votes every time, and, at their steps, a row left empty (and voted again
// at the next), new participants, statements voted at the end and between
// others, many at once, a statement losing its votes, and a deleted statement.
func (l *liveVotes) update(step int) {
	rng, set := l.rng, l.set
	if step == 0 {
		return
	}
	for range rng.IntN(6) {
		r := rng.IntN(len(l.rows))
		set(r, int32(rng.IntN(len(l.statements))), Vote(rng.IntN(3)-1), rng.IntN(4) == 0)
	}
	if step%17 == 0 {
		set(rng.IntN(len(l.rows)), 0, 0, true) // possibly a row's last vote
		r := rng.IntN(len(l.rows))
		for _, c := range slices.Clone(l.rows[r]) {
			set(r, c.Statement, 0, true) // a row left empty
		}
	}
	if step%17 == 1 || step%13 == 8 {
		// A row without a vote on a statement not deleted gets one.
		live := func(c Cell) bool { return l.statements[c.Statement] != "" }
		for r := range l.rows {
			if !slices.ContainsFunc(l.rows[r], live) {
				j := rng.IntN(len(l.statements))
				for l.statements[j] == "" {
					j = (j + 1) % len(l.statements)
				}
				set(r, int32(j), Pass, false)
			}
		}
	}
	if step%5 == 0 {
		for range 1 + rng.IntN(3) {
			l.addParticipants(1)
			set(len(l.rows)-1, int32(rng.IntN(len(l.statements))), Agree, false)
		}
	}
	switch step % 19 {
	case 0:
		// Four statements, the second and fourth voted at once (otherwise,
		// so that their tallies differ).
		l.addStatements(4)
		set(rng.IntN(len(l.rows)), int32(len(l.statements)-3), Agree, false)
		for r := range 3 {
			set(r, int32(len(l.statements)-1), Disagree, false)
		}
	case 5:
		// The first and third get their first votes: new columns in
		// two places between others.
		set(rng.IntN(len(l.rows)), int32(len(l.statements)-4), Agree, false)
		set(rng.IntN(len(l.rows)), int32(len(l.statements)-2), Pass, false)
	}
	if step == 40 {
		// Many statements get their first votes at once: more than
		// the tallies have room for.
		for range 70 {
			l.addStatements(1)
			set(rng.IntN(len(l.rows)), int32(len(l.statements)-1), Vote(rng.IntN(3)-1), false)
		}
	}
	if step%13 == 7 {
		// A statement is deleted; the rows keep its votes, and may get more
		// (in this test: an actor refuses them).
		l.deleteStatement(rng.IntN(len(l.statements)))
	}
	switch step % 23 {
	case 6:
		// One statement loses its votes as another gets its first:
		// as many columns, numbered otherwise.
		j := int32(rng.IntN(len(l.statements) - 1))
		for r := range l.rows {
			set(r, j, 0, true)
		}
		l.addStatements(1)
		set(rng.IntN(len(l.rows)), int32(len(l.statements)-1), Disagree, false)
	case 15:
		// One loses its votes, then one gets its first, at the end.
		j := int32(rng.IntN(len(l.statements) - 1))
		for r := range l.rows {
			set(r, j, 0, true)
		}
	case 16:
		l.addStatements(1)
		set(rng.IntN(len(l.rows)), int32(len(l.statements)-1), Agree, false)
	}
}

// TestVoteDataFromTheRunBefore follows a conversation whose rows change as an
// actor changes them (a changed row is a new array, the others stay where they
// are) and checks that the compressed votes built from the previous run's
// (rowsCache) equal those built from the Matrix alone, field by field, after
// every update: changed, added and deleted votes, rows left empty, new
// participants, new statements (some still unvoted), moderation and meta flags.
// So must the tallies counted from the previous run's (tallyCache), as
// participants move between groups, join the clustered ones, and the groups
// change.
// Between updates, the workspace serves another conversation's run, as the pool
// of workspaces would have it, so an array shared by mistake between the
// workspace and the kept rows would show.
func TestVoteDataFromTheRunBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	live := &liveVotes{rng: rng}
	live.start(30, 40, 12)

	w := new(workspace)
	other, err := NewMatrixFromSortedRows([]string{"x", "y"}, []string{"a", "b", "c"}, [][]Cell{{{0, Agree}, {2, Pass}}, {{1, Disagree}}})
	if err != nil {
		t.Fatal(err)
	}
	var prev *Matrix
	var kept *rowsCache
	var counted *tallyCache
	groupIDs := []int{0, 1, 2}
	var member []int
	var in []bool
	reused, recounted := 0, 0
	const updates = 80
	for step := range updates {
		live.update(step)
		var modOut, meta []bool
		if step%3 != 0 {
			modOut, meta = make([]bool, len(live.statements)), make([]bool, len(live.statements))
			for j := range live.statements {
				modOut[j], meta[j] = rng.IntN(8) == 0, rng.IntN(10) == 0
			}
		}
		// A snapshot of the rows, as an actor takes one: the Matrix borrows
		// the list, which the next updates must not change.
		m, err := NewMatrixFromSortedRowsAfter(prev, live.participants, live.statements, slices.Clone(live.rows))
		if err != nil {
			t.Fatal(err)
		}
		got, next := newVoteDataIn(w, m, modOut, meta, kept)
		if kept != nil && unsafe.SliceData(next.cnt) == unsafe.SliceData(kept.cnt) {
			reused++
		}
		want, _ := newVoteDataIn(new(workspace), m, modOut, meta, nil)
		if diff := voteDataDiff(got, want); diff != "" {
			t.Fatalf("update %d: the votes built from the run before differ from the Matrix's: %s", step, diff)
		}
		if next == nil || next.matrix != m.id {
			t.Fatalf("update %d: kept %+v for the Matrix %d", step, next, m.id)
		}
		// The tallies, counted from the run before's.
		for range rng.IntN(4) { // participants move between tables
			member[rng.IntN(len(member))] = rng.IntN(len(groupIDs)+1) - 1
			in[rng.IntN(len(in))] = rng.IntN(3) > 0
		}
		if step%11 == 10 { // the groups change (in number, or only in id)
			groupIDs = groupIDs[:0]
			for g := range 2 + rng.IntN(3) {
				groupIDs = append(groupIDs, 2*g+step)
			}
			for i := range member {
				member[i] = min(member[i], len(groupIDs)-1)
			}
		}
		n := got.numRows()
		for len(member) < n {
			member, in = append(member, rng.IntN(len(groupIDs)+1)-1), append(in, true)
		}
		for i := range n {
			if member[i] >= 0 {
				in[i] = true // a group's members are clustered
			}
		}
		everyone, clustered, grouped, per, _, nextTallies := talliesAfter(w, got, m, next, kept, counted, in[:n], member[:n], len(groupIDs))
		e, c, g, p := tallies(new(workspace), want, in[:n], member[:n], len(groupIDs))
		for name, pair := range map[string][2]any{"everyone": {everyone, e}, "clustered": {clustered, c}, "grouped": {grouped, g}, "per group": {per, p}} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Fatalf("update %d: tallies %s counted from the run before's: %v, want %v", step, name, pair[0], pair[1])
			}
		}
		if nextTallies != nil && nextTallies.counted < n {
			recounted++
		}
		if nextTallies == nil {
			t.Fatalf("update %d: no tallies kept (%d of %d rows voting)", step, n, len(m.rows))
		}
		// Another conversation's run on the same workspace.
		newVoteDataIn(w, other, nil, nil, nil)
		prev, kept, counted = m, next, nextTallies
	}
	if recounted < updates/2 {
		t.Fatalf("the tallies were counted from the run before's in %d of %d updates", recounted, updates)
	}
	// Most updates copy the unchanged rows; those that add statements beyond
	// the sums' room do too (in new sums), so this only shows the path is taken.
	if reused < updates/2 {
		t.Fatalf("the run before's rows were reused in %d of %d updates", reused, updates)
	}

	// A Matrix not built after the kept one's, or edited, is read whole.
	m, err := NewMatrixFromSortedRows(live.participants, live.statements, live.rows)
	if err != nil {
		t.Fatal(err)
	}
	kept.vote[0] = -kept.vote[0] + 1 // a kept row the Matrix must not take
	got, next := newVoteDataIn(w, m, nil, nil, kept)
	want, _ := newVoteDataIn(new(workspace), m, nil, nil, nil)
	if diff := voteDataDiff(got, want); diff != "" {
		t.Fatalf("a Matrix built without prev took the kept rows: %s", diff)
	}
	after, err := NewMatrixFromSortedRowsAfter(m, live.participants, live.statements, live.rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := after.Set(live.participants[0], live.statements[0], Agree); err != nil {
		t.Fatal(err)
	}
	next.vote[0] = -next.vote[0] + 1
	got, _ = newVoteDataIn(w, after, nil, nil, next)
	want, _ = newVoteDataIn(new(workspace), after, nil, nil, nil)
	if diff := voteDataDiff(got, want); diff != "" {
		t.Fatalf("an edited Matrix took the kept rows: %s", diff)
	}
}

// voteDataDiff names the first field in which a and b differ ("" if none).
func voteDataDiff(a, b *voteData) string {
	fields := []struct {
		name string
		x, y any
	}{
		{"participants", a.participants, b.participants},
		{"statements", a.statements, b.statements},
		{"matCol", a.matCol, b.matCol},
		{"unused", a.unused, b.unused},
		{"modOut", a.modOut, b.modOut},
		{"meta", a.meta, b.meta},
		{"nModOut", a.nModOut, b.nModOut},
		{"rowPtr", a.rowPtr[:len(a.participants)+1], b.rowPtr[:len(b.participants)+1]},
		{"col", a.col[:a.rowPtr[len(a.participants)]], b.col[:b.rowPtr[len(b.participants)]]},
		{"vote", a.vote, b.vote},
		{"cRowPtr", a.cRowPtr[:len(a.participants)+1], b.cRowPtr[:len(b.participants)+1]},
		{"cCol", a.cCol[:len(a.cVal)], b.cCol[:len(b.cVal)]},
		{"cVal", a.cVal, b.cVal},
		{"mean", a.mean, b.mean},
		{"voteCount", a.voteCount, b.voteCount},
		{"seen", a.seen, b.seen},
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.x, f.y) {
			x, y := reflect.ValueOf(f.x), reflect.ValueOf(f.y)
			if x.Kind() != reflect.Slice || x.Len() != y.Len() {
				return fmt.Sprintf("%s: %v, want %v", f.name, f.x, f.y)
			}
			for i := range x.Len() {
				if !reflect.DeepEqual(x.Index(i).Interface(), y.Index(i).Interface()) {
					return fmt.Sprintf("%s[%d]: %v, want %v", f.name, i, x.Index(i), y.Index(i))
				}
			}
		}
	}
	return ""
}

// TestRunsFromTheRunBeforesVotes: a conversation's runs, each from the State of
// the one before, give the same analyses when the State's kept compressed votes
// and tallies are used as when they are not (a Clone keeps neither): every
// update of liveVotes, on a conversation with three latent groups, with some
// statements moderated out at times.
func TestRunsFromTheRunBeforesVotes(t *testing.T) {
	live := &liveVotes{rng: rand.New(rand.NewPCG(21, 22))}
	live.vote = func(r int, j int32) Vote {
		switch {
		case (r*31+int(j)*17)%11 == 0:
			return Pass
		case (r%3+int(j))%3 == 0:
			return Agree
		default:
			return Disagree
		}
	}
	live.start(60, 120, 30)
	var prev *Matrix
	var kept, fresh *State
	incremental := 0
	const updates = 80
	for step := range updates {
		live.update(step)
		m, err := NewMatrixFromSortedRowsAfter(prev, live.participants, live.statements, slices.Clone(live.rows))
		if err != nil {
			t.Fatal(err)
		}
		in := Input{Votes: m, Statements: live.statements}
		if step%4 == 3 {
			in.ModeratedOut = []string{live.statements[step%len(live.statements)], live.statements[(3*step)%len(live.statements)]}
		}
		var bare *State
		if fresh != nil {
			bare = fresh.Clone()
		}
		got, nextKept := Run(in, kept)
		want, nextFresh := Run(in, bare)
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Fatalf("update %d: the run from the kept votes and tallies differs from the one without:\n%s\n%s", step, g, w)
		}
		if !slices.Equal(got.GroupVotes, want.GroupVotes) || !slices.Equal(got.ListedOpinion, want.ListedOpinion) {
			t.Fatalf("update %d: the group votes or the listed opinions differ", step)
		}
		// The deleted statements as a copying Matrix leaves them out: the same
		// analysis, and each listed statement's opinion is the one of its id.
		flat, err := NewMatrixFromUniqueRows(live.participants, live.statements, rowOffsets(live.rows), slices.Concat(live.rows...))
		if err != nil {
			t.Fatal(err)
		}
		if m.NumVotes() != flat.NumVotes() || !slices.Equal(m.Statements(), flat.Statements()) {
			t.Fatalf("update %d: %d votes and statements %v, copying Matrix %d and %v", step, m.NumVotes(), m.Statements(), flat.NumVotes(), flat.Statements())
		}
		var copied *State
		if fresh != nil {
			copied = fresh.Clone()
		}
		flatIn := in
		flatIn.Votes = flat
		if g, f := mustJSON(t, got), mustJSON(t, first(Run(flatIn, copied))); g != f {
			t.Fatalf("update %d: the run differs from the copying Matrix's:\n%s\n%s", step, g, f)
		}
		for j, o := range got.ListedOpinion {
			if id := live.statements[j]; (o < 0) != (id == "") || o >= 0 && got.Opinions[o].OpinionID != id {
				t.Fatalf("update %d: statement %d (%q) listed as opinion %d", step, j, id, o)
			}
		}
		if tc := nextKept.tallies.Load(); tc != nil && tc.counted < len(m.rows) && got.K >= 2 {
			incremental++
		}
		prev, kept, fresh = m, nextKept, nextFresh
	}
	if incremental < updates/2 {
		t.Fatalf("the tallies were counted from the run before's in %d of %d runs with groups", incremental, updates)
	}
}

// first returns a Run's Result.
func first(r *Result, _ *State) *Result { return r }
