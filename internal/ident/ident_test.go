package ident

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Same and SameList agree with == on shared strings, equal copies, ids that
// differ only after their first byte, ids of other lengths and empty ones.
func TestSameIsEquality(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	pool := []string{"", "a", "b", "ab", "ac", "ba", "abc", "abd"}
	for range 200 {
		pool = append(pool, string([]byte{byte('a' + rng.IntN(2)), byte('a' + rng.IntN(2)), byte('a' + rng.IntN(2))}))
	}
	copyOf := func(s string) string { return strings.Clone(s) }
	for _, a := range pool {
		for _, b := range pool {
			for _, pair := range [][2]string{{a, b}, {a, copyOf(b)}, {copyOf(a), b}} {
				if got, want := Same(pair[0], pair[1]), pair[0] == pair[1]; got != want {
					t.Fatalf("Same(%q, %q) = %v", pair[0], pair[1], got)
				}
			}
		}
	}
	for range 2000 {
		n := rng.IntN(4)
		a, b := make([]string, n), make([]string, n+rng.IntN(2))
		for i := range a {
			a[i] = pool[rng.IntN(len(pool))]
		}
		for i := range b {
			if i < n && rng.IntN(4) > 0 {
				b[i] = copyOf(a[i])
			} else {
				b[i] = pool[rng.IntN(len(pool))]
			}
		}
		want := len(a) == len(b)
		for i := 0; want && i < len(a); i++ {
			want = a[i] == b[i]
		}
		if got := SameList(a, b); got != want {
			t.Fatalf("SameList(%q, %q) = %v", a, b, got)
		}
		if !SameList(a, a) || !SameList(a, a[:len(a):len(a)]) {
			t.Fatalf("SameList(%q, itself) is false", a)
		}
	}
}
