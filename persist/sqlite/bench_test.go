package sqlite_test

import (
	"testing"

	"github.com/agora-dev/agora/persist/storetest"
)

// BenchmarkApplyVotes measures the batcher's hot path with the workload of
// storetest.BenchmarkApplyVotes. Batches are committed durably
// (synchronous=FULL), so the figure includes the fsync of the disk under
// the temporary folder.
//
//	go test -run '^$' -bench ApplyVotes -benchtime 200x ./persist/sqlite/
func BenchmarkApplyVotes(b *testing.B) {
	storetest.BenchmarkApplyVotes(b, MustOpenDB(b))
}
