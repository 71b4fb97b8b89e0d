package actors

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	polismath "github.com/agora-dev/agora/math"
)

// The tree's draws are the linear search's, whatever the weights (zeros
// included) and however it was grown.
func TestRoutingTreeDrawsLikeALinearSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := range 70 {
		var r routing
		r.tree = []float64{0}
		w := make([]float64, n)
		for i := range w {
			if rng.IntN(4) > 0 {
				w[i] = rng.Float64() * 10
			}
			r.push(w[i])
		}
		sum := 0.0
		for _, x := range w {
			sum += x
		}
		if math.Abs(r.total()-sum) > 1e-9 {
			t.Fatalf("n=%d: total %v, want %v", n, r.total(), sum)
		}
		// The O(n) build of a conversation with these weights is the same tree.
		s := newConversation(agora.Conversation{ID: "c"})
		res := &polismath.Result{}
		var ids []string
		for i, x := range w {
			id := string(rune('A' + i))
			ids = append(ids, id)
			s.addOpinion(agora.Opinion{ID: id, ConversationID: "c", Status: agora.StatusVisible})
			res.Opinions = append(res.Opinions, polismath.Opinion{OpinionID: id, Priority: x})
		}
		s.an = &analysis{res: res, bySeq: indexBySeq(res.Opinions, ids)}
		// (A zero priority weighs 1e-9 there: the nodes differ by less than
		// 70 of those.)
		built := s.routingTree()
		for i := range r.tree {
			if math.Abs(built.tree[i]-r.tree[i]) > 1e-6 {
				t.Fatalf("n=%d: built node %d = %v, pushed %v", n, i, built.tree[i], r.tree[i])
			}
		}
		for range 200 {
			u := rng.Float64() * sum
			want, acc := -1, 0.0
			for i, x := range w {
				acc += x
				if acc > u {
					want = i
					break
				}
			}
			if want < 0 {
				continue // u rounded past the end
			}
			if got := r.draw(u); got != want {
				t.Fatalf("n=%d u=%v: draw %d, want %d (weights %v)", n, u, got, want, w)
			}
		}
	}
}

// next draws every unvoted counted opinion in proportion to its priority,
// never a voted or moderated one, follows new analyses, moderation and new
// opinions, and answers nothing when nothing is left.
func TestNextFollowsThePriorities(t *testing.T) {
	s := newConversation(agora.Conversation{ID: "c"})
	for i := range 6 {
		s.addOpinion(agora.Opinion{ID: string(rune('a' + i)), ConversationID: "c", Status: agora.StatusVisible})
	}
	voter := agora.Caller{ParticipantID: "v", Role: agora.RoleParticipant}
	s.setVote("v", 0, agora.Agree) // "a" is voted on
	priorities := []float64{50, 1, 2, 4, 8, 16}
	res := &polismath.Result{}
	for i, p := range priorities {
		res.Opinions = append(res.Opinions, polismath.Opinion{OpinionID: string(rune('a' + i)), Priority: p})
	}
	s.an = &analysis{res: res, bySeq: indexBySeq(res.Opinions, []string{"a", "b", "c", "d", "e", "f"})}

	draw := func(n int) map[string]int {
		counts := map[string]int{}
		for range n {
			v, _, err := nextOpinion{caller: voter}.apply(s, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			o := v.(*agora.OpinionView)
			if o == nil {
				counts[""]++
				continue
			}
			counts[o.ID]++
		}
		return counts
	}
	// check compares the counts with the weights' proportions, within six
	// standard deviations.
	check := func(counts map[string]int, n int, weights map[string]float64) {
		t.Helper()
		total := 0.0
		for _, w := range weights {
			total += w
		}
		for id, c := range counts {
			if _, ok := weights[id]; !ok {
				t.Fatalf("drew %q %d times; it may not be drawn", id, c)
			}
		}
		for id, w := range weights {
			p := w / total
			sd := math.Sqrt(float64(n) * p * (1 - p))
			if d := math.Abs(float64(counts[id]) - float64(n)*p); d > 6*sd+1 {
				t.Fatalf("%q drawn %d times of %d, expected %.0f ± %.0f", id, counts[id], n, float64(n)*p, sd)
			}
		}
	}
	const n = 20000
	check(draw(n), n, map[string]float64{"b": 1, "c": 2, "d": 4, "e": 8, "f": 16})

	// Moderation takes "f" out; a new opinion comes in at the default
	// priority, as the analysis does not know it.
	s.setStatus(5, agora.StatusMoved, &agora.Moderation{Reason: agora.ReasonSpam})
	s.addOpinion(agora.Opinion{ID: "g", ConversationID: "c", Status: agora.StatusVisible})
	check(draw(n), n, map[string]float64{"b": 1, "c": 2, "d": 4, "e": 8, "g": defaultPriority})

	// A new analysis changes the weights.
	res2 := &polismath.Result{Opinions: []polismath.Opinion{{OpinionID: "b", Priority: 30}, {OpinionID: "c", Priority: 1}}}
	s.an = &analysis{res: res2, bySeq: indexBySeq(res2.Opinions, []string{"a", "b", "c", "d", "e", "f", "g"})}
	check(draw(n), n, map[string]float64{"b": 30, "c": 1, "d": defaultPriority, "e": defaultPriority, "g": defaultPriority})

	// Votes on most of the weight send the draw to the exact pass.
	for _, seq := range []int32{1, 3, 4, 6} {
		s.setVote("v", seq, agora.Pass)
	}
	check(draw(2000), 2000, map[string]float64{"c": 1})
	s.setVote("v", 2, agora.Disagree)
	if c := draw(10); c[""] != 10 {
		t.Fatalf("with every opinion voted on, next drew %v", c)
	}
}
