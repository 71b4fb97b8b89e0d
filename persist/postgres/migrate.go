package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agora-dev/agora/migrations"
)

// migrationLock is the key of the session advisory lock held while
// migrating ("agora" in ASCII). Advisory locks are per database, so nodes of
// one cluster serialise on it and stores in other databases do not.
const migrationLock int64 = 0x61676f7261

// Migrate brings the database at connString up to the schema this binary
// knows and returns the names of the migrations it applied (none when the
// database was already current). Open migrates too; Migrate exists for
// `agora migrate`, which prepares a database and exits without serving.
func Migrate(ctx context.Context, connString string) ([]string, error) {
	pool, err := newPool(ctx, connString)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrate applies the embedded migrations the database has not recorded,
// each in its own transaction, while holding the migration advisory lock
// on one connection: nodes that start together wait for each other, and
// each then sees what the first applied. It refuses a database that
// records a version this binary does not know: that database was migrated
// by a newer agora, and an older one would misread it.
func migrate(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	all, err := migrations.Load(migrations.Postgres, "postgres")
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, storeError(err, "connect")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, storeError(err, "take the migration lock")
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
			// Closing the session is what releases its lock for sure.
			_ = conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, storeError(err, "create schema_migrations")
	}
	var newest int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return nil, storeError(err, "read schema_migrations")
	}
	if newest > len(all) {
		return nil, fmt.Errorf("postgres: the database has schema version %d, newer than this binary's %d: upgrade agora", newest, len(all))
	}
	for _, m := range all[newest:] {
		if err := applyMigration(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// applyMigration runs one migration and records it in one transaction.
func applyMigration(ctx context.Context, conn *pgxpool.Conn, m migrations.Migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return storeError(err, "begin migration "+m.Name)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	// Without arguments pgx sends the file with the simple protocol, which
	// runs all its statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return storeError(err, "record migration "+m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return storeError(err, "commit migration "+m.Name)
	}
	return nil
}
