package actors

import (
	"fmt"
	"testing"
)

// BenchmarkSnapshot is the copy the actor makes for each analysis (it
// holds the conversation's writes meanwhile), at the sizes of
// BenchmarkAnalysisRun.
func BenchmarkSnapshot(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", size.opinions, size.votes), func(b *testing.B) {
			s, _ := benchConversation(size.opinions, size.votes, size.participants)
			b.ReportAllocs()
			for b.Loop() {
				s.snapshotForMath()
			}
		})
	}
}
