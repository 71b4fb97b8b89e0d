package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/agora-dev/agora/migrations"
)

// Migrate brings the database file at path up to the schema this binary
// knows, creating the file and its folder if needed, and returns the names
// of the migrations it applied (none when the file was already current).
// Open migrates too; Migrate exists for `agora migrate`, which prepares a
// data folder and exits without serving.
func Migrate(ctx context.Context, path string, opts ...Option) ([]string, error) {
	o := newOptions(opts)
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	w, err := openWriter(abs, o.busyTimeout)
	if err != nil {
		return nil, err
	}
	applied, err := migrate(ctx, w)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: close: %w", cerr)
	}
	return applied, err
}

// migrate applies the embedded migrations the database has not recorded,
// each in its own IMMEDIATE transaction that re-checks the record first, so
// that two processes migrating one file at once apply each version once.
// It refuses a database that records a version this binary does not know:
// that file was written by a newer agora, and an older one would misread it.
func migrate(ctx context.Context, w *sql.DB) ([]string, error) {
	all, err := migrations.Load(migrations.SQLite, "sqlite")
	if err != nil {
		return nil, err
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return nil, storeError(err, "create schema_migrations")
	}

	var newest int
	if err := w.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return nil, storeError(err, "read schema_migrations")
	}
	if newest > len(all) {
		return nil, fmt.Errorf("sqlite: the database has schema version %d, newer than this binary's %d: upgrade agora", newest, len(all))
	}

	var applied []string
	for _, m := range all {
		if m.Version <= newest {
			continue
		}
		ok, err := applyMigration(ctx, w, m)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

// applyMigration runs one migration unless another process recorded it
// meanwhile; it reports whether it ran.
func applyMigration(ctx context.Context, w *sql.DB, m migrations.Migration) (bool, error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return false, storeError(err, "begin migration "+m.Name)
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return false, storeError(err, "read schema_migrations")
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return false, storeError(err, "record migration "+m.Name)
	}
	if err := tx.Commit(); err != nil {
		return false, storeError(err, "commit migration "+m.Name)
	}
	return true, nil
}
