package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// e2ePostgresSuite is the end-to-end suite that TestE2EPostgres runs a
// second time, on PostgreSQL: every TestE2E* test of the package, with
// every assertion as it is. TestE2EPostgresRunsTheWholeSuite keeps the
// list complete.
var e2ePostgresSuite = []e2eTest{
	{"TestE2EParticipants", TestE2EParticipants},
	{"TestE2EConversations", TestE2EConversations},
	{"TestE2EConversationListing", TestE2EConversationListing},
	{"TestE2EOpinions", TestE2EOpinions},
	{"TestE2EVotes", TestE2EVotes},
	{"TestE2EModeration", TestE2EModeration},
	{"TestE2ENext", TestE2ENext},
	{"TestE2ECounters", TestE2ECounters},
	{"TestE2EConcurrentVoting", TestE2EConcurrentVoting},
	{"TestE2EAdmin", TestE2EAdmin},
	{"TestE2EOperations", TestE2EOperations},
	{"TestE2EProtocol", TestE2EProtocol},
	{"TestE2ERateLimit", TestE2ERateLimit},
	{"TestE2ERestart", TestE2ERestart},
	{"TestE2EChurn", TestE2EChurn},
	{"TestE2EAdmission", TestE2EAdmission},
	{"TestE2EAnalysis", TestE2EAnalysis},
	{"TestE2EPolisImport", TestE2EPolisImport},
	{"TestE2EPolisRoundTrip", TestE2EPolisRoundTrip},
	{"TestE2EPolisImportErrors", TestE2EPolisImportErrors},
	{"TestE2EPolisExport", TestE2EPolisExport},
	{"TestE2EPolisGen", TestE2EPolisGen},
	{"TestE2EPolisAnalysisEqualsAnalyze", TestE2EPolisAnalysisEqualsAnalyze},
}

// e2eTest is one top-level test of the end-to-end suite.
type e2eTest struct {
	name string
	run  func(*testing.T)
}

// postgresSuiteName is the test whose subtests run on PostgreSQL.
const postgresSuiteName = "TestE2EPostgres"

// onPostgres reports whether a test is one of TestE2EPostgres's, whose
// servers storeConfig opens on PostgreSQL. The test name is the only thing
// that travels from TestE2EPostgres into the unchanged test functions.
func onPostgres(tb testing.TB) bool {
	return strings.HasPrefix(tb.Name(), postgresSuiteName+"/")
}

// TestE2EPostgres runs the end-to-end suite against PostgreSQL, each test
// on a database of its own (see pgtest). It skips without
// AGORA_TEST_POSTGRES_URL, and fails instead under CI.
func TestE2EPostgres(t *testing.T) {
	pgtest.ServerURL(t)
	t.Parallel()
	for _, tc := range e2ePostgresSuite {
		t.Run(tc.name, tc.run)
	}
}

// TestE2EPostgresRunsTheWholeSuite fails when a TestE2E* test is missing
// from e2ePostgresSuite, so that no end-to-end test runs on SQLite only.
func TestE2EPostgresRunsTheWholeSuite(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var missing []string
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "TestE2E") ||
				strings.HasPrefix(fn.Name.Name, postgresSuiteName) {
				continue
			}
			if !slices.ContainsFunc(e2ePostgresSuite, func(tc e2eTest) bool { return tc.name == fn.Name.Name }) {
				missing = append(missing, fn.Name.Name)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("add %v to e2ePostgresSuite in e2e_postgres_test.go, so that they run on PostgreSQL too", missing)
	}
}

// TestMigratePostgres runs `agora migrate --postgres` twice on a new
// database: the first run applies every migration, the second none.
func TestMigratePostgres(t *testing.T) {
	d := pgtest.NewDatabase(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"migrate", "--postgres", d.URL}, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "migrations: applied 0001_") {
		t.Fatalf("first migrate printed %q", stdout.String())
	}
	stdout.Reset()
	t.Setenv("AGORA_POSTGRES_URL", d.URL)
	if code := run([]string{"migrate"}, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate with AGORA_POSTGRES_URL: exit %d: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "migrations: already up to date\n" {
		t.Fatalf("second migrate printed %q", got)
	}
}
