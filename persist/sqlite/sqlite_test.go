package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/sqlite"
	"github.com/agora-dev/agora/persist/storetest"
)

// MustOpenDB opens a store in a new temporary folder and closes it when the
// test ends.
func MustOpenDB(tb testing.TB, opts ...sqlite.Option) *sqlite.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), sqlite.FileName), opts...)
}

func mustOpenPath(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// rawDB opens the store's file beside the store, to look at what the Store
// interface does not show.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatalf("sql.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) agora.Store { return MustOpenDB(t) })
}

func TestOpen(t *testing.T) {
	t.Run("creates the data folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b c?#", sqlite.FileName)
		db := mustOpenPath(t, path)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database file: %v", err)
		}
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})

	t.Run("applies the migrations once however often the file is opened", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		for range 3 {
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		applied, err := sqlite.Migrate(context.Background(), path)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if len(applied) != 0 {
			t.Fatalf("Migrate on a current file applied %v", applied)
		}
		var n, distinct int
		if err := rawDB(t, path).QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n != distinct {
			t.Fatalf("schema_migrations has %d rows, %d versions", n, distinct)
		}
	})

	t.Run("migrates a new file with Migrate and opens it afterwards", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data", sqlite.FileName)
		applied, err := sqlite.Migrate(context.Background(), path)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if len(applied) == 0 || !strings.HasPrefix(applied[0], "0001_") {
			t.Fatalf("Migrate applied %v, want 0001_... first", applied)
		}
		mustOpenPath(t, path)
	})

	t.Run("refuses a file migrated by a newer binary", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		db := mustOpenPath(t, path)
		db.Close()
		if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
			t.Fatal(err)
		}
		if db, err := sqlite.Open(context.Background(), path); err == nil {
			db.Close()
			t.Fatal("Open succeeded on a file with an unknown schema version")
		}
	})

	t.Run("keeps committed data across close and reopen", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		db := mustOpenPath(t, path)
		at := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
		p := &agora.Participant{ID: "p1", Role: agora.RoleParticipant, CreatedAt: at, TokenHash: agora.HashToken("t")}
		c := &agora.Conversation{ID: "c1", Title: "T", AuthorID: "p1", CreatedAt: at, IsIndexed: true,
			Counters: agora.Counters{OpinionCount: 1, VoteCount: 1, ParticipantCount: 1, LastReactedAt: at}}
		o := &agora.Opinion{ID: "o1", ConversationID: "c1", AuthorID: "p1", Text: "x", CreatedAt: at, Status: agora.StatusVisible}
		if err := db.Apply(ctx, []agora.Event{storetest.ParticipantCreated(p), storetest.ConversationCreated(c),
			storetest.OpinionCreated(o), storetest.VoteCast("c1", "p1", "o1", agora.Agree, at)}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		db = mustOpenPath(t, path)
		got, err := db.ParticipantByTokenHash(ctx, p.TokenHash)
		if err != nil || got.ID != "p1" || !got.CreatedAt.Equal(at) {
			t.Fatalf("after reopen: participant %+v, %v", got, err)
		}
		counters, err := db.RecountConversation(ctx, "c1")
		if err != nil {
			t.Fatalf("RecountConversation: %v", err)
		}
		if want := c.Counters; counters != want {
			t.Fatalf("after reopen: counters %+v, want %+v", counters, want)
		}
	})

	t.Run("closes twice without error", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestApply(t *testing.T) {
	t.Run("records every vote event in the history, cancels as NULL", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		db := mustOpenPath(t, path)
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		p := &agora.Participant{ID: "p1", Role: agora.RoleParticipant, CreatedAt: at}
		c := &agora.Conversation{ID: "c1", Title: "T", AuthorID: "p1", CreatedAt: at}
		o := &agora.Opinion{ID: "o1", ConversationID: "c1", AuthorID: "p1", Text: "x", CreatedAt: at}
		events := []agora.Event{storetest.ParticipantCreated(p), storetest.ConversationCreated(c), storetest.OpinionCreated(o),
			storetest.VoteCast("c1", "p1", "o1", agora.Agree, at.Add(time.Microsecond)),
			storetest.VoteCast("c1", "p1", "o1", agora.Pass, at.Add(2*time.Microsecond)),
			storetest.VoteCancelled("c1", "p1", "o1", at.Add(3*time.Microsecond)),
			storetest.VoteCast("c1", "p1", "o1", agora.Disagree, at.Add(4*time.Microsecond))}
		if err := db.Apply(ctx, events); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		rows, err := rawDB(t, path).Query(`SELECT vote FROM vote_history WHERE conversation_id = 'c1' ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v sql.NullInt64
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v.Valid {
				got = append(got, agora.Vote(v.Int64).String())
			} else {
				got = append(got, "cancel")
			}
		}
		if want := "agree pass cancel disagree"; strings.Join(got, " ") != want {
			t.Fatalf("history %v, want %s", got, want)
		}
	})

	t.Run("refuses a vote on an unknown opinion", func(t *testing.T) {
		db := MustOpenDB(t)
		err := db.Apply(context.Background(), []agora.Event{
			storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()}),
			storetest.VoteCast("c1", "p1", "nope", agora.Agree, time.Now()),
		})
		if code := agora.ErrorCode(err); code != agora.EINVALID {
			t.Fatalf("Apply: %v (code %q), want EINVALID", err, code)
		}
		if _, err := db.Participant(context.Background(), "p1"); agora.ErrorCode(err) != agora.ENOTFOUND {
			t.Fatalf("participant of the failed batch: %v, want not found", err)
		}
	})

	t.Run("refuses a vote whose conversation is not its opinion's", func(t *testing.T) {
		db := MustOpenDB(t)
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		events := []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: at})}
		for _, id := range []string{"c1", "c2"} {
			events = append(events, storetest.ConversationCreated(&agora.Conversation{ID: id, Title: id, AuthorID: "p1", CreatedAt: at}))
		}
		events = append(events, storetest.OpinionCreated(&agora.Opinion{ID: "o1", ConversationID: "c1", AuthorID: "p1", Text: "x", CreatedAt: at}))
		if err := db.Apply(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		err := db.Apply(context.Background(), []agora.Event{storetest.VoteCast("c2", "p1", "o1", agora.Agree, at)})
		if code := agora.ErrorCode(err); code != agora.EINVALID {
			t.Fatalf("Apply: %v (code %q), want EINVALID", err, code)
		}
	})

	t.Run("refuses a malformed event before writing", func(t *testing.T) {
		db := MustOpenDB(t)
		for _, ev := range []agora.Event{
			{Kind: agora.EventParticipantCreated},
			{Kind: agora.EventVoteCast, ConversationID: "c1"},
			{Kind: 200},
		} {
			if code := agora.ErrorCode(db.Apply(context.Background(), []agora.Event{ev})); code != agora.EINVALID {
				t.Fatalf("Apply(%+v): code %q, want EINVALID", ev, code)
			}
		}
	})

	t.Run("reports a file locked by another process as unavailable", func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		db := mustOpenPath(t, path, sqlite.WithBusyTimeout(20*time.Millisecond))
		other := rawDB(t, path)
		conn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		err = db.Apply(ctx, []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()})})
		if code := agora.ErrorCode(err); code != agora.EUNAVAILABLE {
			t.Fatalf("Apply under another writer: %v (code %q), want EUNAVAILABLE", err, code)
		}
		if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
			t.Fatal(err)
		}
		// Reads never wait for the writer's lock.
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := db.Apply(ctx, []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()})}); err != nil {
			t.Fatalf("Apply once the lock is gone: %v", err)
		}
	})

	t.Run("reports a cancelled context as unavailable", func(t *testing.T) {
		db := MustOpenDB(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := db.Apply(ctx, []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now()})})
		if code := agora.ErrorCode(err); code != agora.EUNAVAILABLE {
			t.Fatalf("Apply: %v (code %q), want EUNAVAILABLE", err, code)
		}
	})
}

func TestListConversations(t *testing.T) {
	t.Run("refuses a cursor of the other sort", func(t *testing.T) {
		ctx := context.Background()
		db := MustOpenDB(t)
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		events := []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: at})}
		for _, id := range []string{"c1", "c2", "c3"} {
			events = append(events, storetest.ConversationCreated(&agora.Conversation{ID: id, Title: id, AuthorID: "p1", CreatedAt: at, IsIndexed: true}))
		}
		if err := db.Apply(ctx, events); err != nil {
			t.Fatal(err)
		}
		page, err := db.ListConversations(ctx, agora.ConversationQuery{Sort: agora.SortConversationsNew, Limit: 1})
		if err != nil || page.NextCursor == nil {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		_, err = db.ListConversations(ctx, agora.ConversationQuery{Sort: agora.SortConversationsActive, Limit: 1, Cursor: *page.NextCursor})
		if code := agora.ErrorCode(err); code != agora.EINVALID {
			t.Fatalf("active with a cursor of new: %v, want EINVALID", err)
		}
	})

	t.Run("reads the listings through their partial indexes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), sqlite.FileName)
		mustOpenPath(t, path)
		raw := rawDB(t, path)
		for index, key := range map[string]string{"conversations_listed_new": "created_at", "conversations_listed_active": "last_reacted_at"} {
			rows, err := raw.Query(`EXPLAIN QUERY PLAN SELECT id FROM conversations
				WHERE is_indexed = 1 AND lock_reason IS NULL AND deleted_at IS NULL AND (`+key+`, id) < (?, ?)
				ORDER BY `+key+` DESC, id DESC LIMIT 10`, 5, "x")
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			joined := strings.Join(plan, "; ")
			if !strings.Contains(joined, index) || strings.Contains(joined, "TEMP B-TREE") {
				t.Fatalf("plan for %s: %s", key, joined)
			}
		}
	})
}
