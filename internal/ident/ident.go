// Package ident compares ids in the merge passes that match one list of ids
// against another in the same order (a conversation's statements from one
// analysis to the next, an analysis' opinions against the actor's).
package ident

import "unsafe"

// Same reports whether a == b. The lists such passes compare mostly hold the
// same strings, shared (the actor's ids, handed on from run to run): Same
// decides those by their address, and most different ids of one length by
// their first byte, without the call that comparing their bytes costs. At
// 19,000 statements those calls were about 3% of a warm analysis' instructions.
func Same(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b) {
		return true
	}
	return a[0] == b[0] && a == b
}

// SameList reports whether a and b hold equal ids in the same order, at once
// when they are the same slice.
func SameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b) {
		return true
	}
	for i := range a {
		if !Same(a[i], b[i]) {
			return false
		}
	}
	return true
}
