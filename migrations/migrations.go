// Package migrations holds the schema of every store as plain SQL files,
// one folder per dialect, embedded in the binary so that `agora serve` and
// `agora migrate` need nothing beside the executable.
//
// A migration file is named NNNN_description.sql; NNNN is its version.
// Versions start at 1 and have no gaps, and an applied migration is never
// edited: a change to the schema is a new file. Each store applies the
// files it has not yet recorded, in order, each in its own transaction.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// SQLite holds the SQLite migrations under sqlite/. A second dialect gets
// its own folder and its own variable beside this one, so that a store
// embeds only the files written for its engine.
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds the PostgreSQL migrations under postgres/. They build the
// same tables as SQLite's in PostgreSQL's types, and are applied by
// persist/postgres under an advisory lock, so that nodes starting together
// migrate a database once.
//
//go:embed postgres/*.sql
var Postgres embed.FS

// Migration is one schema change, ready to run.
type Migration struct {
	// Version orders migrations and is what a store records once the
	// migration has been applied.
	Version int
	// Name is the file name, kept for logs and the migrations table.
	Name string
	// SQL is the file's content: one or more statements.
	SQL string
}

// Load reads the migrations of one dialect folder of fsys, sorted by
// version. It fails on a file name without a version, on two files with
// the same version and on a gap, because a store that skipped a version
// would build a schema nobody tested.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		digits, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return nil, fmt.Errorf("migrations: %s/%s: name is not NNNN_description.sql", dir, e.Name())
		}
		version, err := strconv.Atoi(digits)
		if err != nil || version < 1 {
			return nil, fmt.Errorf("migrations: %s/%s: name is not NNNN_description.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s/%s: %w", dir, e.Name(), err)
		}
		out = append(out, Migration{Version: version, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: expected version %d, found %s", dir, i+1, m.Name)
		}
	}
	return out, nil
}
