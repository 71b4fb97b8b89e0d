package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agora-dev/agora"
)

// doubts remembers the batches whose COMMIT lost its answer, so that the
// batcher's retry neither applies a committed batch twice (a second
// ParticipantCreated would fail as a duplicate, EINVALID, for a write that
// did commit; the vote history would hold the votes twice) nor drops one
// that did not commit.
//
// The batcher retries a failed batch by calling Apply again with the same
// slice, so a batch is known by its first element's address and its
// length. Each doubt keeps the transaction id of its attempt, and the
// retry asks the server what became of that transaction (pg_xact_status).
type doubts struct {
	mu sync.Mutex
	m  map[doubtKey]string // batch -> transaction id of the unsettled attempt
}

type doubtKey struct {
	first *agora.Event
	n     int
}

// maxDoubts bounds the batches remembered; a caller that never retries
// (a test, a shutdown) must not make the map grow. The batcher has at most
// one batch in flight.
const maxDoubts = 16

func keyOf(events []agora.Event) doubtKey { return doubtKey{&events[0], len(events)} }

// add remembers that events may have been committed by transaction xid.
func (d *doubts) add(events []agora.Event, xid string) {
	if xid == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[doubtKey]string)
	}
	if len(d.m) >= maxDoubts {
		for k := range d.m {
			delete(d.m, k)
			break
		}
	}
	d.m[keyOf(events)] = xid
}

// settle looks up a retried batch. It reports settled when the earlier
// attempt did commit (the retry must write nothing and succeed); it
// returns EUNAVAILABLE when the answer is not known yet (the server is
// still unreachable, or the old transaction is still finishing), and
// neither when the batch is not in doubt or its attempt was rolled back,
// so that Apply writes it.
func (d *doubts) settle(ctx context.Context, pool *pgxpool.Pool, events []agora.Event) (settled bool, err error) {
	key := keyOf(events)
	d.mu.Lock()
	xid, ok := d.m[key]
	d.mu.Unlock()
	if !ok {
		return false, nil
	}
	// NULL when the transaction is too old for the server to remember:
	// then nothing more can be learnt, and the batch is written again.
	var status *string
	if err := pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status); err != nil {
		return false, storeError(err, "status of an unsettled commit")
	}
	if status != nil && *status == "in progress" {
		return false, agora.Unavailable(retryAfter, "A commit of the store is still unsettled.")
	}
	d.mu.Lock()
	delete(d.m, key)
	d.mu.Unlock()
	return status != nil && *status == "committed", nil
}
