// Package sqlite is agora's embedded store: one SQLite file, opened through
// the pure-Go modernc.org/sqlite driver so that `agora serve` runs on a
// fresh machine with no database server and no cgo.
//
// SQLite has a single writer. The store therefore keeps one write
// connection, used only by Apply (called by one batcher per node) and by
// migrations, and a small pool of read-only connections; in WAL mode the
// readers see the last committed state and never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/agora-dev/agora"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database file's name inside a data directory, so that
// every command that opens `--data-dir` finds the same file.
const FileName = "agora.db"

// Defaults of the options; see the Option functions for the reasons.
const (
	DefaultReaders            = 4
	DefaultBusyTimeout        = 5 * time.Second
	DefaultCheckpointInterval = 500 * time.Millisecond
)

// retryAfter is what an EUNAVAILABLE error suggests to the client: a busy or
// failing disk rarely recovers within milliseconds.
const retryAfter = time.Second

// DB is the SQLite store. It implements agora.Store and agora.Auditor and
// is safe for concurrent use, though Apply calls are serialised on the one
// write connection.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB
	ws    *writeStatements
	rs    *readStatements

	// The checkpointer copies the WAL into the main file in the
	// background, off the commit path; see checkpointLoop.
	checkpoint     *sql.DB
	stopCheckpoint chan struct{}
	checkpointDone chan struct{}
	closeOnce      sync.Once
	closeErr       error
}

var (
	_ agora.Store   = (*DB)(nil)
	_ agora.Auditor = (*DB)(nil)
)

// Option tunes Open.
type Option func(*options)

type options struct {
	readers            int
	busyTimeout        time.Duration
	checkpointInterval time.Duration
}

func newOptions(opts []Option) options {
	o := options{readers: DefaultReaders, busyTimeout: DefaultBusyTimeout, checkpointInterval: DefaultCheckpointInterval}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithReaders sets the size of the read pool (default 4). Reads are short
// (an activation, an authentication, a listing page) and most reads are
// answered from memory, so a few connections suffice; each costs a page
// cache.
func WithReaders(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readers = n
		}
	}
}

// WithBusyTimeout sets how long a statement waits for a lock held by
// another process (default 5 s) before the store reports EUNAVAILABLE.
// Within one process the writer never waits for itself; the wait matters
// only when another process, such as `agora migrate`, holds the file.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.busyTimeout = d
		}
	}
}

// WithCheckpointInterval sets how often a background connection copies the
// write-ahead log into the database file (default 500 ms). SQLite would
// otherwise do it inside the commit that crosses a size threshold, adding
// the copy and an fsync of the main file to that batch's latency. Shorter
// keeps the log small, longer copies a page changed by many batches once.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.checkpointInterval = d
		}
	}
}

// Open opens (creating if needed) the database file at path and its folder,
// applies the migrations it has not seen yet, and prepares the statements
// the store runs. The caller must Close the DB.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := newOptions(opts)
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	db := &DB{path: abs}
	if err := db.open(ctx, o); err != nil {
		db.closeConns()
		return nil, err
	}
	db.stopCheckpoint, db.checkpointDone = make(chan struct{}), make(chan struct{})
	go db.checkpointLoop(o.checkpointInterval)
	return db, nil
}

// absPath makes path absolute and creates its folder.
func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return "", fmt.Errorf("sqlite: create data folder: %w", err)
	}
	return abs, nil
}

// open opens the three pools, migrates and prepares. On error the caller
// closes what was opened.
func (db *DB) open(ctx context.Context, o options) error {
	var err error
	if db.write, err = openWriter(db.path, o.busyTimeout); err != nil {
		return err
	}
	if _, err := migrate(ctx, db.write); err != nil {
		return err
	}
	if db.ws, err = prepareWrites(ctx, db.write); err != nil {
		return err
	}

	db.read, err = sql.Open("sqlite", dsn(db.path, url.Values{"_pragma": {
		busyTimeout(o.busyTimeout),
		// A reader that tried to write would take the writer's lock behind
		// the batcher's back; query_only turns that bug into an error.
		"query_only(1)",
	}}))
	if err != nil {
		return fmt.Errorf("sqlite: open readers: %w", err)
	}
	db.read.SetMaxOpenConns(o.readers)
	db.read.SetMaxIdleConns(o.readers)
	if db.rs, err = prepareReads(ctx, db.read); err != nil {
		return err
	}

	db.checkpoint, err = sql.Open("sqlite", dsn(db.path, url.Values{"_pragma": {busyTimeout(o.busyTimeout)}}))
	if err != nil {
		return fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	db.checkpoint.SetMaxOpenConns(1)
	return nil
}

func busyTimeout(d time.Duration) string {
	return "busy_timeout(" + strconv.FormatInt(d.Milliseconds(), 10) + ")"
}

// openWriter opens the single write connection.
//   - WAL lets readers run beside the writer.
//   - synchronous=FULL makes a commit durable when it returns, which the
//     batcher's 2xx answers promise.
//   - A 64 MiB page cache holds the working set of the votes between
//     batches instead of reading it back from the OS on every batch.
//   - temp_store=MEMORY keeps the statement journals of multi-row
//     statements off the disk.
//   - wal_autocheckpoint is a backstop: the background checkpointer keeps
//     the log well below it unless readers hold it back.
//   - journal_size_limit truncates a log that a burst made large.
//   - _txlock=immediate takes the write lock at BEGIN, so a transaction
//     never fails halfway for want of a lock another process holds.
func openWriter(path string, timeout time.Duration) (*sql.DB, error) {
	w, err := sql.Open("sqlite", dsn(path, url.Values{
		"_pragma": {
			busyTimeout(timeout),
			"journal_mode(WAL)",
			"synchronous(FULL)",
			"foreign_keys(1)",
			"cache_size(-65536)",
			"temp_store(MEMORY)",
			"wal_autocheckpoint(20000)",
			"journal_size_limit(67108864)",
		},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	// One connection, kept forever: SQLite has one writer, and the prepared
	// statements of Apply live on this connection.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	return w, nil
}

// dsn builds a file: URI, escaping the path so that any character in a
// folder name (a '?', a '#', a space) reaches SQLite intact.
func dsn(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path != "" && u.Path[0] != '/' {
		// Windows: file:///C:/...
		u.Path = "/" + u.Path
	}
	return u.String()
}

// Path returns the absolute path of the database file, for logs.
func (db *DB) Path() string { return db.path }

// Ping checks that the file answers a query, which a bare connection check
// would not prove. It uses a reader so that readiness never waits for a
// batch being committed.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return storeError(err, "ping")
	}
	return nil
}

// checkpointLoop copies committed WAL frames into the database file every
// interval, on its own connection, so that commits never do it. PASSIVE
// waits for no one: frames a reader still uses are copied next time.
func (db *DB) checkpointLoop(interval time.Duration) {
	defer close(db.checkpointDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.stopCheckpoint:
			return
		case <-t.C:
			// An error (a busy file) is retried at the next tick; a lasting
			// one shows in Apply and Ping, which report it.
			_, _ = db.checkpoint.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// Close stops the checkpointer and releases the connections; it is safe to
// call more than once. The writer closes last so that SQLite, on closing
// the last connection, checkpoints the WAL into the main file.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.stopCheckpoint != nil {
			close(db.stopCheckpoint)
			<-db.checkpointDone
		}
		db.closeErr = db.closeConns()
	})
	return db.closeErr
}

func (db *DB) closeConns() error {
	var errs []error
	for _, pool := range []*sql.DB{db.checkpoint, db.read, db.write} {
		if pool != nil {
			errs = append(errs, pool.Close())
		}
	}
	return errors.Join(errs...)
}

// storeError maps a driver error to the domain's codes: EUNAVAILABLE for
// what may pass (a lock held elsewhere, a full or failing disk, a context
// ended), EINVALID for what never will (a constraint or type violated), and
// a plain wrapped error, seen as EINTERNAL, for the rest. The cause stays
// in the chain for logs and errors.Is.
func storeError(err error, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, agora.Unavailable(retryAfter, "The store did not answer in time."), err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT,
			sqlite3.SQLITE_READONLY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, agora.Unavailable(retryAfter, "The store is unavailable."), err)
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
			return fmt.Errorf("sqlite: %s: %w: %w", op, agora.Errorf(agora.EINVALID, "The change violates a constraint of the store."), err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// micros encodes a time as the schema stores it.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros encodes an optional time: the zero time is NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros decodes a stored time, in UTC as the domain expects.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullString encodes an optional text: the empty string is NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// boolInt encodes a boolean as the schema stores it.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
