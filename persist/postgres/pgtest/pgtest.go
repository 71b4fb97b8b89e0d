// Package pgtest gives tests a real PostgreSQL database of their own: the
// store's contract suite, its benchmarks and the end-to-end suite run on
// it, never on a mock.
//
// The server is the one AGORA_TEST_POSTGRES_URL names (`make test` starts
// a throwaway one, see scripts/postgres.sh). Each test gets a new database
// on it, dropped when the test ends, so tests can run in parallel and
// leave nothing behind. Without the variable, tests skip with a message,
// except under CI (the CI variable set), where a missing or unreachable
// PostgreSQL fails them: CI must never pass by skipping the store.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL is the variable that names the test server: a URL or keyword/value
// connection string of a role that may create databases.
const EnvURL = "AGORA_TEST_POSTGRES_URL"

// NamePrefix starts the name of every database this package creates, so
// that leftovers of a killed test run are easy to find and drop.
const NamePrefix = "agora_test_"

// Database is a fresh, empty database for one test.
type Database struct {
	// Name is the database's name on the server.
	Name string
	// URL connects to the database; it is the server's URL with the
	// database replaced.
	URL string

	admin *pgxpool.Pool
}

// ServerURL returns the test server's connection string. Without one it
// skips the test, or fails it under CI.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if InCI() {
			tb.Fatalf("PostgreSQL: %s is not set; CI must run the PostgreSQL tests (make test starts a server)", EnvURL)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s to a server's URL (make test starts a throwaway one)", EnvURL)
	}
	return u
}

// InCI reports whether the tests run under CI, where the PostgreSQL tests
// must run.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

var admin struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// adminPool returns the process's connection pool to the test server,
// opened on first use and checked with a ping.
func adminPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	serverURL := ServerURL(tb)
	admin.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		cfg, err := pgxpool.ParseConfig(serverURL)
		if err != nil {
			admin.err = fmt.Errorf("%s is malformed", EnvURL)
			return
		}
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			admin.err = fmt.Errorf("the server of %s does not answer: %w", EnvURL, err)
			return
		}
		admin.pool = pool
	})
	if admin.err != nil {
		tb.Fatalf("PostgreSQL: %v", admin.err)
	}
	return admin.pool
}

// NewDatabase creates an empty database for the test and drops it, with
// the connections still open to it, when the test and its cleanups before
// this one have ended.
func NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	pool := adminPool(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := NamePrefix + hex.EncodeToString(b[:])
	dbURL, err := WithDatabase(ServerURL(tb), name)
	if err != nil {
		tb.Fatalf("PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE template0`); err != nil {
		tb.Fatalf("PostgreSQL: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("PostgreSQL: drop database %s: %v", name, err)
		}
	})
	return &Database{Name: name, URL: dbURL, admin: pool}
}

// Disconnect makes the database unreachable, as a server going down would
// for its clients: it refuses new connections and terminates every open
// one. It works with any server the test role owns databases on, so it
// needs no control of the server's process.
func (d *Database) Disconnect(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{d.Name}.Sanitize()+` WITH ALLOW_CONNECTIONS false`); err != nil {
		tb.Fatalf("PostgreSQL: refuse connections to %s: %v", d.Name, err)
	}
	d.Terminate(tb)
}

// Terminate ends every open connection to the database (a restart of the
// server as its clients see it) and waits until they are gone.
func (d *Database) Terminate(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var left int
		err := d.admin.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t`,
			d.Name).Scan(&left)
		if err != nil {
			tb.Fatalf("PostgreSQL: terminate the connections to %s: %v", d.Name, err)
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Reconnect lets clients connect to the database again after Disconnect.
func (d *Database) Reconnect(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{d.Name}.Sanitize()+` WITH ALLOW_CONNECTIONS true`); err != nil {
		tb.Fatalf("PostgreSQL: allow connections to %s: %v", d.Name, err)
	}
}

// WithDatabase returns connString with its database replaced by name. It
// accepts a postgres:// URL and a keyword/value string, where a later
// dbname overrides an earlier one.
func WithDatabase(connString, name string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", EnvURL)
		}
		q := u.Query()
		q.Del("dbname")
		u.RawQuery = q.Encode()
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return strings.TrimSpace(connString) + " dbname=" + name, nil
}
