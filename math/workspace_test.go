package polismath

import (
	"encoding/json"
	"sync"
	"testing"
)

// TestConcurrentRunsShareNoWorkspace runs analyses of different conversations at
// once, many times over, and checks that each equals the same analysis run alone:
// a workspace handed to two runs, or reused while its run still reads it, would
// mix their votes.
func TestConcurrentRunsShareNoWorkspace(t *testing.T) {
	const convs = 6
	inputs := make([]Input, convs)
	want := make([]string, convs)
	for c := range convs {
		votes := synthConversation(uint64(100+c), 60+20*c, 30+5*c, 1500+300*c, 3, 0.85)
		inputs[c] = Input{Votes: synthMatrix(votes, len(votes)), ModeratedOut: []string{"s1"}}
		r, _ := Run(inputs[c], nil)
		b, _ := json.Marshal(r)
		want[c] = string(b)
	}
	var wg sync.WaitGroup
	errs := make(chan string, convs*20)
	for c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				r, _ := Run(inputs[c], nil)
				b, _ := json.Marshal(r)
				if string(b) != want[c] {
					errs <- inputs[c].Votes.Participants()[0]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a concurrent run differs from the same run alone (conversation of %s)", e)
	}
}

// TestLargeWorkspaceNotKeptIdle checks that the free list lets go of a workspace
// above maxIdleWorkspace and keeps a small one.
func TestLargeWorkspaceNotKeptIdle(t *testing.T) {
	for len(workspaces) > 0 {
		<-workspaces
	}
	big := getWorkspace()
	big.slab = make([]float64, maxIdleWorkspace/8+1)
	putWorkspace(big)
	if len(workspaces) != 0 {
		t.Fatalf("a %d MB workspace was kept idle", big.bytes()>>20)
	}
	small := getWorkspace()
	small.slab = make([]float64, 1024)
	putWorkspace(small)
	if len(workspaces) != 1 || getWorkspace() != small {
		t.Fatal("a small workspace was not kept")
	}
}
