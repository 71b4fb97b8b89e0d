package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// fixture is one subtest's store with generators of ids and times that are
// unique within it. Times are UTC and whole microseconds, as the domain
// makes them.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   agora.Store
	n   int
	now time.Time
	seq map[string]int // next opinion seq per conversation
}

func newFixture(t *testing.T, open func(t *testing.T) agora.Store) *fixture {
	t.Helper()
	return &fixture{
		t:   t,
		ctx: t.Context(),
		s:   open(t),
		now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		seq: map[string]int{},
	}
}

// tick returns a time later than every earlier one.
func (f *fixture) tick() time.Time {
	f.now = f.now.Add(1237 * time.Microsecond)
	return f.now
}

func (f *fixture) id(prefix string) string {
	f.n++
	return fmt.Sprintf("%s%04d", prefix, f.n)
}

// participant returns a new participant with a token; it is not applied.
func (f *fixture) participant() *agora.Participant {
	id := f.id("p")
	return &agora.Participant{ID: id, DisplayName: "P " + id, Role: agora.RoleParticipant, CreatedAt: f.tick(),
		TokenHash: agora.HashToken("token of " + id)}
}

// conversation returns a new, indexed, unlocked conversation; it is not
// applied.
func (f *fixture) conversation(authorID string) *agora.Conversation {
	id := f.id("c")
	now := f.tick()
	return &agora.Conversation{ID: id, Title: "Title of " + id, Body: "Body of " + id, AuthorID: authorID,
		CreatedAt: now, IsIndexed: true, Counters: agora.Counters{LastReactedAt: now}}
}

// newConversation applies a new author and conversation.
func (f *fixture) newConversation() *agora.Conversation {
	f.t.Helper()
	p := f.participant()
	c := f.conversation(p.ID)
	f.apply(ParticipantCreated(p), ConversationCreated(c))
	return c
}

// opinion returns the next visible opinion of c; it is not applied.
func (f *fixture) opinion(c *agora.Conversation, authorID string) *agora.Opinion {
	id := f.id("o")
	seq := f.seq[c.ID]
	f.seq[c.ID]++
	return &agora.Opinion{ID: id, ConversationID: c.ID, AuthorID: authorID, Text: "Opinion " + id,
		CreatedAt: f.tick(), Status: agora.StatusVisible, Seq: seq}
}

func (f *fixture) apply(events ...agora.Event) {
	f.t.Helper()
	if err := f.s.Apply(f.ctx, events); err != nil {
		f.t.Fatalf("Apply(%d events): %v", len(events), err)
	}
}

func (f *fixture) load(id string) *recorder {
	f.t.Helper()
	r := &recorder{}
	if err := f.s.LoadConversation(f.ctx, id, r); err != nil {
		f.t.Fatalf("LoadConversation(%s): %v", id, err)
	}
	return r
}

// listAll follows the cursors of a listing to its last page.
func (f *fixture) listAll(sort agora.ConversationSort, limit int) []agora.Conversation {
	f.t.Helper()
	var all []agora.Conversation
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			f.t.Fatalf("sort %s limit %d: more than 1000 pages", sort, limit)
		}
		page, err := f.s.ListConversations(f.ctx, agora.ConversationQuery{Sort: sort, Limit: limit, Cursor: cursor})
		if err != nil {
			f.t.Fatalf("ListConversations(%s, limit %d, page %d): %v", sort, limit, pages, err)
		}
		if len(page.Items) > limit {
			f.t.Fatalf("sort %s: page of %d items, limit %d", sort, len(page.Items), limit)
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		if len(page.Items) == 0 {
			f.t.Fatalf("sort %s: empty page with a next cursor", sort)
		}
		cursor = *page.NextCursor
	}
}

// recorder is a ConversationSink that keeps what it receives, and can fail
// at the first call of one kind.
type recorder struct {
	conversation agora.Conversation
	opinions     []agora.Opinion
	votes        []agora.StoredVote
	calls        []string
	failAt       string
	err          error
}

func (r *recorder) call(kind string) error {
	r.calls = append(r.calls, kind)
	if kind == r.failAt {
		return r.err
	}
	return nil
}

func (r *recorder) LoadConversation(c agora.Conversation) error {
	r.conversation = c
	return r.call("conversation")
}

func (r *recorder) LoadOpinion(o agora.Opinion) error {
	r.opinions = append(r.opinions, o)
	return r.call("opinion")
}

func (r *recorder) LoadVote(v agora.StoredVote) error {
	r.votes = append(r.votes, v)
	return r.call("vote")
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := agora.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// The want functions compare what a store returns with what the test
// applied. Times are compared as instants (a store may return another
// location); everything else must be equal.

func wantConversation(t *testing.T, got, want agora.Conversation) {
	t.Helper()
	want.Locked = want.Lock != nil
	if g, w := utcConversation(got), utcConversation(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("conversation\n got %+v\nwant %+v", g, w)
	}
}

func wantCounters(t *testing.T, got, want agora.Counters) {
	t.Helper()
	got.LastReactedAt, want.LastReactedAt = got.LastReactedAt.UTC(), want.LastReactedAt.UTC()
	if got != want {
		t.Fatalf("counters\n got %+v\nwant %+v", got, want)
	}
}

func wantOpinions(t *testing.T, got []agora.Opinion, want ...agora.Opinion) {
	t.Helper()
	g, w := make([]agora.Opinion, len(got)), make([]agora.Opinion, len(want))
	for i := range got {
		g[i] = utcOpinion(got[i])
	}
	for i := range want {
		w[i] = utcOpinion(want[i])
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("opinions\n got %s\nwant %s", formatOpinions(g), formatOpinions(w))
	}
}

// wantVotes compares current votes in any order: the contract orders
// opinions, not votes.
func wantVotes(t *testing.T, got []agora.StoredVote, want ...agora.StoredVote) {
	t.Helper()
	norm := func(vs []agora.StoredVote) []agora.StoredVote {
		out := make([]agora.StoredVote, len(vs))
		for i, v := range vs {
			v.At = v.At.UTC()
			out[i] = v
		}
		slices.SortFunc(out, func(a, b agora.StoredVote) int {
			return strings.Compare(a.OpinionID+"/"+a.ParticipantID, b.OpinionID+"/"+b.ParticipantID)
		})
		return out
	}
	if g, w := norm(got), norm(want); !slices.Equal(g, w) {
		t.Fatalf("votes\n got %+v\nwant %+v", g, w)
	}
}

func wantParticipant(t *testing.T, got, want *agora.Participant) {
	t.Helper()
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt = g.CreatedAt.UTC(), w.CreatedAt.UTC()
	if g != w {
		t.Fatalf("participant\n got %+v\nwant %+v", g, w)
	}
}

func utcConversation(c agora.Conversation) agora.Conversation {
	c.CreatedAt, c.LastReactedAt = c.CreatedAt.UTC(), c.LastReactedAt.UTC()
	c.Lock = utcLock(c.Lock)
	return c
}

func utcLock(l *agora.Lock) *agora.Lock {
	if l == nil {
		return nil
	}
	c := *l
	c.At = c.At.UTC()
	return &c
}

func utcOpinion(o agora.Opinion) agora.Opinion {
	o.CreatedAt = o.CreatedAt.UTC()
	if o.Moderation != nil {
		m := *o.Moderation
		m.At = m.At.UTC()
		o.Moderation = &m
	}
	return o
}

func formatOpinions(os []agora.Opinion) string {
	var b strings.Builder
	for _, o := range os {
		fmt.Fprintf(&b, "\n  %+v", o)
		if o.Moderation != nil {
			fmt.Fprintf(&b, " moderation=%+v", *o.Moderation)
		}
	}
	return b.String()
}
