package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
	"github.com/agora-dev/agora/persist/storetest"
)

// TestDoubts checks how a retried batch whose COMMIT lost its answer is
// settled. A lost answer cannot be staged reliably against a real server,
// so the test records the doubt itself, with the id of a transaction that
// did commit or did not.
func TestDoubts(t *testing.T) {
	pgtest.ServerURL(t) // skip, or fail under CI, once for all subtests
	ctx := context.Background()
	open := func(t *testing.T) *DB {
		db, err := Open(ctx, pgtest.NewDatabase(t).URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	batch := func() []agora.Event {
		return []agora.Event{storetest.ParticipantCreated(&agora.Participant{ID: "p1", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})}
	}

	t.Run("a retry of a batch that did commit writes nothing and succeeds", func(t *testing.T) {
		db := open(t)
		events := batch()
		conn, err := db.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		xid, err := newFlush(events).run(ctx, conn.Conn())
		conn.Release()
		if err != nil {
			t.Fatal(err)
		}
		db.doubts.add(events, xid)
		// Written again, the participant would be a duplicate (EINVALID).
		if err := db.Apply(ctx, events); err != nil {
			t.Fatalf("retry of a committed batch: %v", err)
		}
		if err := db.Apply(ctx, events); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("a settled batch is still in doubt: a third Apply returned %v", err)
		}
	})

	t.Run("a retry of a batch that did not commit writes it", func(t *testing.T) {
		db := open(t)
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var xid string
		if err := tx.QueryRow(ctx, sqlXID).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		events := batch()
		db.doubts.add(events, xid)
		if err := db.Apply(ctx, events); err != nil {
			t.Fatalf("retry of a rolled back batch: %v", err)
		}
		if _, err := db.Participant(ctx, "p1"); err != nil {
			t.Fatalf("the retried batch was not written: %v", err)
		}
	})

	t.Run("another batch is not taken for the doubtful one", func(t *testing.T) {
		db := open(t)
		doubtful, other := batch(), batch()
		db.doubts.add(doubtful, "1")
		if err := db.Apply(ctx, other); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Participant(ctx, "p1"); err != nil {
			t.Fatalf("the other batch was not written: %v", err)
		}
	})
}
