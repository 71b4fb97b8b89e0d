// Package postgres is agora's production store: PostgreSQL through pgx and
// its pool, required for a cluster because every node must see one store
// and the fencing epochs in it.
//
// A flush of the write-behind batcher is one transaction shipped in few
// round trips: one pipelined pgx.Batch carries the epoch check and every
// change, the vote history included, as multi-row statements over
// unnest(...) arrays, and COMMIT ends it (see Apply). Activation reads a
// conversation in one pipelined snapshot and streams the rows into the
// actor (see LoadConversation).
//
// Ownership: a DB is safe for concurrent use. Apply is called by one
// batcher per node; reads come from any goroutine. Each call holds one
// pooled connection for its duration and returns it in a clean state; a
// connection left inside a transaction or broken is destroyed by the pool
// on release and replaced, which is how the store survives a restart of
// PostgreSQL without a restart of agora.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/agora-dev/agora"
)

// Defaults applied to a connection string that does not set them.
const (
	// DefaultConnectTimeout bounds one connection attempt. Without it a
	// connect to an unreachable host waits for the caller's context (the
	// batcher's is 30 s), and the pool cannot replace broken connections
	// at the pace the batcher retries.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultPingTimeout bounds the liveness ping the pool sends before it
	// hands out a connection that sat idle, so that a connection broken by
	// a restart of the server is found and replaced quickly.
	DefaultPingTimeout = 2 * time.Second
	// DefaultHealthCheckPeriod is how often the pool checks idle
	// connections, closing the broken and the expired ones. pgx's default
	// is a minute; a shorter period drops the connections of a restarted
	// server before a request meets them.
	DefaultHealthCheckPeriod = 10 * time.Second
)

// retryAfter is what an EUNAVAILABLE error suggests to the client: a server
// restarting or failing over rarely comes back within milliseconds.
const retryAfter = time.Second

// fencedCode is the SQLSTATE that agora_check_epochs raises (see
// migrations/postgres/0002_ownership.sql).
const fencedCode = "AG001"

// DB is the PostgreSQL store. It implements agora.Store and agora.Auditor.
type DB struct {
	pool   *pgxpool.Pool
	doubts doubts
}

var (
	_ agora.Store   = (*DB)(nil)
	_ agora.Auditor = (*DB)(nil)
)

// Open connects to the database at connString (a postgres:// URL or a
// keyword/value string, with pgxpool's pool_* settings if wanted), applies
// the migrations the database has not recorded under an advisory lock, and
// returns the store. The caller must Close it.
func Open(ctx context.Context, connString string) (*DB, error) {
	pool, err := newPool(ctx, connString)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool}, nil
}

// newPool parses connString and opens a pool with the defaults above where
// the string sets nothing. The pool connects lazily: a server that is down
// at start makes the first use fail, not this call.
func newPool(ctx context.Context, connString string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// The parse error may quote the password: say only what is wrong.
		return nil, fmt.Errorf("postgres: the connection string is malformed: %w", redact(err))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.HealthCheckPeriod == time.Minute { // pgx's default
		cfg.HealthCheckPeriod = DefaultHealthCheckPeriod
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, storeError(err, "connect")
	}
	return pool, nil
}

// redact drops the text of a connection-string parse error, which pgconn
// builds from the string itself.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("check its syntax")
	}
	return err
}

// Pool returns the store's connection pool, for tools and tests that look
// at what the Store interface does not show.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the server answers a query on the store's schema, which
// a bare connection check would not prove.
func (db *DB) Ping(ctx context.Context) error {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return storeError(err, "ping")
	}
	return nil
}

// Close closes every connection of the pool, waiting for those in use to
// be released. It is safe to call more than once.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// storeError maps a pgx error to the domain's codes, keeping the cause in
// the chain for logs and errors.Is:
//   - EFENCED for the epoch check's SQLSTATE;
//   - EUNAVAILABLE for what may pass: a broken or refused connection, a
//     timeout or an ended context, a server shutting down or starting, too
//     many connections, a serialization failure or deadlock, a full disk, a
//     read-only (standby) server;
//   - EINVALID for what never will: integrity violations (class 23) and
//     data exceptions (class 22: invalid text, a string too long, a NUL
//     character, a number out of range);
//   - a plain wrapped error, seen as EINTERNAL, for the rest (a bug in a
//     statement).
func storeError(err error, op string) error {
	if err == nil {
		return nil
	}
	var ae *agora.Error
	if errors.As(err, &ae) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch class := pe.Code[:2]; {
		case pe.Code == fencedCode:
			return fmt.Errorf("postgres: %s: %w: %w", op, agora.Errorf(agora.EFENCED, "%s", pe.Message), err)
		case class == "22" || class == "23":
			return fmt.Errorf("postgres: %s: %w: %w", op, agora.Errorf(agora.EINVALID, "The change violates a constraint of the store."), err)
		case transientClass[class] || transientCode[pe.Code]:
			return fmt.Errorf("postgres: %s: %w: %w", op, agora.Unavailable(retryAfter, "The store is unavailable."), err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, agora.Unavailable(retryAfter, "The store did not answer in time."), err)
	}
	if connectionLost(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, agora.Unavailable(retryAfter, "The store is unavailable."), err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// transientClass lists the SQLSTATE classes that describe the server's
// state rather than the statement: connection exceptions (08), transaction
// rollbacks such as serialization failures and deadlocks (40), insufficient
// resources such as too many connections or a full disk (53), operator
// intervention such as an admin shutdown, a crash or a server starting
// (57), and system errors such as I/O failures (58).
var transientClass = map[string]bool{"08": true, "40": true, "53": true, "57": true, "58": true}

// transientCode lists single codes of other classes that pass: a lock not
// available (55P03), a database not accepting connections (55000, while it
// is being created, dropped or closed to connections), a cannot-connect-now
// read-only standby (25006, during a failover).
var transientCode = map[string]bool{"55P03": true, "55000": true, "25006": true}

// connectionLost reports whether err says that no server answered: a
// refused or failed connection, a network error, a connection closed
// under a statement, or the pool closed (a closed store is unavailable,
// not broken).
func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, puddle.ErrClosedPool) || pgconn.SafeToRetry(err)
}
