package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/migrations"
	"github.com/agora-dev/agora/persist"
	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
	"github.com/agora-dev/agora/persist/storetest"
)

// MustOpenDB opens a store on a new database and closes it when the test
// ends; the database is dropped after that.
func MustOpenDB(tb testing.TB) (*postgres.DB, *pgtest.Database) {
	tb.Helper()
	d := pgtest.NewDatabase(tb)
	db, err := postgres.Open(context.Background(), d.URL)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, d
}

func TestStore(t *testing.T) {
	pgtest.ServerURL(t) // skip, or fail under CI, once for all subtests
	storetest.Run(t, func(t *testing.T) agora.Store {
		db, _ := MustOpenDB(t)
		return db
	})
}

func TestOpen(t *testing.T) {
	pgtest.ServerURL(t) // skip, or fail under CI, once for all subtests
	t.Run("migrates once however many nodes open the database at once", func(t *testing.T) {
		d := pgtest.NewDatabase(t)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				db, err := postgres.Open(ctx, d.URL)
				if err == nil {
					err = db.Ping(ctx)
					db.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
		}
		applied, err := postgres.Migrate(ctx, d.URL)
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate on a current database applied %v, %v", applied, err)
		}
		var n, distinct int
		if err := rawConn(t, d).QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if all, _ := migrations.Load(migrations.Postgres, "postgres"); n != len(all) || distinct != n {
			t.Fatalf("schema_migrations has %d rows, %d versions; want %d", n, distinct, len(all))
		}
	})

	t.Run("migrates a new database with Migrate and opens it afterwards", func(t *testing.T) {
		d := pgtest.NewDatabase(t)
		applied, err := postgres.Migrate(context.Background(), d.URL)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if len(applied) == 0 || !strings.HasPrefix(applied[0], "0001_") {
			t.Fatalf("Migrate applied %v, want 0001_... first", applied)
		}
		db, err := postgres.Open(context.Background(), d.URL)
		if err != nil {
			t.Fatalf("Open after Migrate: %v", err)
		}
		db.Close()
	})

	t.Run("refuses a database migrated by a newer binary", func(t *testing.T) {
		db, d := MustOpenDB(t)
		db.Close()
		if _, err := rawConn(t, d).Exec(context.Background(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
			t.Fatal(err)
		}
		if db, err := postgres.Open(context.Background(), d.URL); err == nil {
			db.Close()
			t.Fatal("Open succeeded on a database with an unknown schema version")
		}
	})

	t.Run("refuses a malformed connection string without echoing it", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://user:secret@host:notaport/db")
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("Open: %v", err)
		}
	})

	t.Run("keeps committed data across close and reopen", func(t *testing.T) {
		ctx := context.Background()
		db, d := MustOpenDB(t)
		f := newWorld()
		if err := db.Apply(ctx, f.setup()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		db.Close()
		db, err := postgres.Open(ctx, d.URL)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db.Close()
		got, err := db.ParticipantByTokenHash(ctx, f.p.TokenHash)
		if err != nil || got.ID != f.p.ID || !got.CreatedAt.Equal(f.at) {
			t.Fatalf("after reopen: participant %+v, %v", got, err)
		}
	})
}

func TestApply(t *testing.T) {
	pgtest.ServerURL(t) // skip, or fail under CI, once for all subtests
	ctx := context.Background()

	t.Run("records every vote event in the history in order, cancels as NULL", func(t *testing.T) {
		db, d := MustOpenDB(t)
		w := newWorld()
		events := append(w.setup(),
			w.vote(agora.Agree, 1), w.vote(agora.Pass, 2),
			storetest.VoteCancelled(w.c.ID, w.p.ID, w.o.ID, w.at.Add(3*time.Microsecond)),
			w.vote(agora.Disagree, 4))
		if err := db.Apply(ctx, events); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		rows, err := rawConn(t, d).Query(ctx, `SELECT vote, at FROM vote_history WHERE conversation_id = $1 ORDER BY id`, w.c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var v *int16
			var at time.Time
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			name := "cancel"
			if v != nil {
				name = agora.Vote(*v).String()
			}
			got = append(got, fmt.Sprintf("%s@%d", name, at.Sub(w.at).Microseconds()))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := "agree@1 pass@2 cancel@3 disagree@4"; strings.Join(got, " ") != want {
			t.Fatalf("history %v, want %s", got, want)
		}
	})

	t.Run("keeps texts with NUL and U+FFFF characters intact", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		w := newWorld()
		odd := "nul\x00 ffff\uffff nul-ffff\x00\uffff ffff-0\uffff0 ffff-ffff\uffff\uffff end\x00"
		w.p.DisplayName, w.p.ExternalID = odd, odd
		w.c.Title, w.c.Body = odd, odd
		w.c.Lock = &agora.Lock{Reason: agora.ReasonSpam, Explanation: odd, At: w.at}
		w.o.Text, w.o.ExternalID = odd, odd
		w.o.Status = agora.StatusHidden
		w.o.Moderation = &agora.Moderation{Reason: agora.ReasonSpam, Explanation: odd, At: w.at}
		if err := db.Apply(ctx, w.setup()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		p, err := db.Participant(ctx, w.p.ID)
		if err != nil || p.DisplayName != odd || p.ExternalID != odd {
			t.Fatalf("participant %+v, %v", p, err)
		}
		var sink recorder
		if err := db.LoadConversation(ctx, w.c.ID, &sink); err != nil {
			t.Fatal(err)
		}
		c, o := sink.conversation, sink.opinions[0]
		if c.Title != odd || c.Body != odd || c.Lock.Explanation != odd {
			t.Fatalf("conversation %q %q %q", c.Title, c.Body, c.Lock.Explanation)
		}
		if o.Text != odd || o.ExternalID != odd || o.Moderation.Explanation != odd {
			t.Fatalf("opinion %q %q %q", o.Text, o.ExternalID, o.Moderation.Explanation)
		}
	})

	t.Run("refuses a vote on an unknown opinion and commits nothing", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		err := db.Apply(ctx, []agora.Event{
			storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()}),
			storetest.VoteCast("c1", "p1", "nope", agora.Agree, time.Now()),
		})
		wantCode(t, err, agora.EINVALID)
		if _, err := db.Participant(ctx, "p1"); agora.ErrorCode(err) != agora.ENOTFOUND {
			t.Fatalf("participant of the failed batch: %v, want not found", err)
		}
	})

	t.Run("refuses a vote whose conversation is not its opinion's", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		w := newWorld()
		other := &agora.Conversation{ID: "c2", Title: "c2", AuthorID: w.p.ID, CreatedAt: w.at}
		if err := db.Apply(ctx, append(w.setup(), storetest.ConversationCreated(other))); err != nil {
			t.Fatal(err)
		}
		err := db.Apply(ctx, []agora.Event{storetest.VoteCast("c2", w.p.ID, w.o.ID, agora.Agree, w.at)})
		wantCode(t, err, agora.EINVALID)
	})

	t.Run("refuses a malformed event before writing", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		for _, ev := range []agora.Event{
			{Kind: agora.EventParticipantCreated},
			{Kind: agora.EventVoteCast, ConversationID: "c1"},
			{Kind: 200},
		} {
			wantCode(t, db.Apply(ctx, []agora.Event{ev}), agora.EINVALID)
		}
	})

	t.Run("reports a cancelled context as unavailable", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := db.Apply(cctx, []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()})})
		wantCode(t, err, agora.EUNAVAILABLE)
	})

	t.Run("reports terminated connections as unavailable and replaces them", func(t *testing.T) {
		db, d := MustOpenDB(t)
		w := newWorld()
		if err := db.Apply(ctx, w.setup()); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			d.Terminate(t)
			batch := []agora.Event{w.vote(agora.Vote(i%3-1), i+1)}
			// The first use of a connection the server closed fails, as
			// transient; the pool replaces it and the retry commits.
			err := db.Apply(ctx, batch)
			if err != nil {
				wantCode(t, err, agora.EUNAVAILABLE)
				err = db.Apply(ctx, batch)
			}
			if err != nil {
				t.Fatalf("Apply after the connections were terminated: %v", err)
			}
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("reports a database that refuses connections as unavailable until it accepts them again", func(t *testing.T) {
		db, d := MustOpenDB(t)
		w := newWorld()
		if err := db.Apply(ctx, w.setup()); err != nil {
			t.Fatal(err)
		}
		d.Disconnect(t)
		for _, err := range []error{
			db.Apply(ctx, []agora.Event{w.vote(agora.Disagree, 1)}),
			db.Ping(ctx),
			db.LoadConversation(ctx, w.c.ID, &recorder{}),
		} {
			wantCode(t, err, agora.EUNAVAILABLE)
		}
		_, err := db.ListConversations(ctx, agora.ConversationQuery{Limit: 10})
		wantCode(t, err, agora.EUNAVAILABLE)
		d.Reconnect(t)
		if err := db.Apply(ctx, []agora.Event{w.vote(agora.Disagree, 1)}); err != nil {
			t.Fatalf("Apply after the outage: %v", err)
		}
	})
}

// TestBatcherOutage checks the write path end to end below HTTP: while the
// database refuses connections, writes are answered EUNAVAILABLE after the
// commit timeout and stay pending; once it is back, they commit without a
// restart, and so do the writes that waited.
func TestBatcherOutage(t *testing.T) {
	pgtest.ServerURL(t) // skip, or fail under CI, once for all subtests
	ctx := context.Background()
	db, d := MustOpenDB(t)
	b := persist.NewBatcher(db, persist.Config{CommitTimeout: 300 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	defer func() {
		// Bounded: a batcher whose store is gone would wait forever.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := b.Close(cctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	w := newWorld()
	if err := b.Write(ctx, w.setup()); err != nil {
		t.Fatal(err)
	}

	d.Disconnect(t)
	const n = 50
	results := make(chan error, n)
	for i := range n {
		pid := fmt.Sprintf("q%d", i)
		if err := b.TryReserve(2); err != nil {
			t.Fatal(err)
		}
		b.Append([]agora.Event{
			storetest.ParticipantCreated(&agora.Participant{ID: pid, CreatedAt: w.at}),
			storetest.VoteCast(w.c.ID, pid, w.o.ID, agora.Agree, w.at.Add(time.Duration(i)*time.Microsecond)),
		}, 2, func(err error) { results <- err })
	}
	for range n {
		select {
		case err := <-results:
			wantCode(t, err, agora.EUNAVAILABLE)
		case <-time.After(10 * time.Second):
			t.Fatal("a write waited past its commit timeout")
		}
	}

	d.Reconnect(t)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Sync(sctx); err != nil {
		t.Fatalf("the backlog did not flush after the outage: %v", err)
	}
	var sink recorder
	if err := db.LoadConversation(ctx, w.c.ID, &sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.votes) != n {
		t.Fatalf("%d votes after the outage, want the %d written during it", len(sink.votes), n)
	}
}

// world is a participant, a conversation and an opinion to vote on.
type world struct {
	at time.Time
	p  *agora.Participant
	c  *agora.Conversation
	o  *agora.Opinion
}

func newWorld() *world {
	at := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	return &world{
		at: at,
		p:  &agora.Participant{ID: "p1", Role: agora.RoleParticipant, CreatedAt: at, TokenHash: agora.HashToken("t")},
		c:  &agora.Conversation{ID: "c1", Title: "T", AuthorID: "p1", CreatedAt: at, IsIndexed: true},
		o:  &agora.Opinion{ID: "o1", ConversationID: "c1", AuthorID: "p1", Text: "x", CreatedAt: at, Status: agora.StatusVisible},
	}
}

func (w *world) setup() []agora.Event {
	return []agora.Event{storetest.ParticipantCreated(w.p), storetest.ConversationCreated(w.c), storetest.OpinionCreated(w.o)}
}

// vote is the participant's vote on the opinion, µs after the world began.
func (w *world) vote(v agora.Vote, us int) agora.Event {
	return storetest.VoteCast(w.c.ID, w.p.ID, w.o.ID, v, w.at.Add(time.Duration(us)*time.Microsecond))
}

// rawConn connects to the test's database beside the store, to look at
// what the Store interface does not show.
func rawConn(tb testing.TB, d *pgtest.Database) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), d.URL)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := agora.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// recorder is a ConversationSink that keeps what it receives.
type recorder struct {
	conversation agora.Conversation
	opinions     []agora.Opinion
	votes        []agora.StoredVote
}

func (r *recorder) LoadConversation(c agora.Conversation) error { r.conversation = c; return nil }
func (r *recorder) LoadOpinion(o agora.Opinion) error           { r.opinions = append(r.opinions, o); return nil }
func (r *recorder) LoadVote(v agora.StoredVote) error           { r.votes = append(r.votes, v); return nil }
