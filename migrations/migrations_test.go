package migrations_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agora-dev/agora/migrations"
)

func TestLoad(t *testing.T) {
	t.Run("loads the SQLite migrations in version order", func(t *testing.T) {
		all, err := migrations.Load(migrations.SQLite, "sqlite")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if len(all) == 0 {
			t.Fatal("no SQLite migrations")
		}
		for i, m := range all {
			if m.Version != i+1 || !strings.HasSuffix(m.Name, ".sql") || strings.TrimSpace(m.SQL) == "" {
				t.Fatalf("migration %d: %+v", i, m)
			}
		}
	})

	for _, tc := range []struct {
		name  string
		files fstest.MapFS
	}{
		{"refuses a gap between versions", fstest.MapFS{
			"d/0001_a.sql": {Data: []byte("SELECT 1;")}, "d/0003_c.sql": {Data: []byte("SELECT 1;")}}},
		{"refuses two files with one version", fstest.MapFS{
			"d/0001_a.sql": {Data: []byte("SELECT 1;")}, "d/0001_b.sql": {Data: []byte("SELECT 1;")}}},
		{"refuses a file name without a version", fstest.MapFS{"d/init.sql": {Data: []byte("SELECT 1;")}}},
		{"refuses a missing folder", fstest.MapFS{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if all, err := migrations.Load(tc.files, "d"); err == nil {
				t.Fatalf("Load succeeded: %+v", all)
			}
		})
	}

	t.Run("ignores files that are not SQL", func(t *testing.T) {
		all, err := migrations.Load(fstest.MapFS{
			"d/0001_a.sql": {Data: []byte("SELECT 1;")}, "d/README.md": {Data: []byte("notes")}}, "d")
		if err != nil || len(all) != 1 {
			t.Fatalf("Load: %+v, %v", all, err)
		}
	})
}
