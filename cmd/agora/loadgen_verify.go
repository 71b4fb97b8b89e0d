package main

import (
	"fmt"
	"strings"
	"sync"
)

// The end-of-run check of `agora loadgen`. Counters are exact at every
// moment (api.md), so once every request has been answered the
// conversation's counters must equal those read before the run plus what
// the server acknowledged:
//
//   - opinion_count: + the opinions answered 201;
//   - vote_count: + the (participant, opinion) pairs with a vote answered
//     200 (every participant is new, and votes are never cancelled, so a
//     pair counts once however often it changed) + one author's agree vote
//     per opinion answered 201;
//   - participant_count: + the participants with at least one of those.
//
// A write answered 5xx, or lost to a timeout or a broken connection, may or
// may not have been applied: each such write widens the accepted range by
// what it could have added. A 4xx (429 included) applied nothing.
// Besides, every vote answer says whether it changed anything; the load
// generator knows each pair's current vote while nothing about it is
// uncertain, so a "changed" that contradicts it is a failure too. After a
// throughput run, where votes change all the time, each client's current
// votes (votes/me) must also equal the last ones acknowledged.
// The check assumes that nobody else writes to the conversation meanwhile.

// lgPair is what a participant knows of its vote on one opinion.
type lgPair struct {
	acked     bool // a vote on it was acknowledged, so a vote exists
	uncertain bool // a vote on it may or may not have been applied
	known     bool // last is the server's current vote
	last      int  // index of the vote in lgVoteBodies; -1 for none
}

// ledger is one participant's writes as the server answered them. It
// belongs to the goroutine of its VU or client.
type ledger struct {
	pairs             map[string]*lgPair
	opinionsAcked     int
	opinionsUncertain int
	uncertainWrites   int
	contradictions    int

	// The comparison with the server's current votes (throughput mode):
	// checked pairs, pairs that differ, and whether votes/me was unreadable.
	currentChecked int
	currentWrong   int
	currentUnread  bool
}

func newLedger() *ledger { return &ledger{pairs: map[string]*lgPair{}} }

// lastVote returns the participant's current vote on an opinion when it is
// known (-1 for no vote), and whether it is known.
func (l *ledger) lastVote(oid string) (int, bool) {
	p := l.pairs[oid]
	if p == nil {
		return -1, true // a new participant has voted on nothing
	}
	return p.last, p.known
}

// voted records the answer to a vote v on opinion oid.
func (l *ledger) voted(oid string, v int, oc lgOutcome, changed bool) {
	p := l.pairs[oid]
	if p == nil {
		p = &lgPair{known: true, last: -1}
		l.pairs[oid] = p
	}
	switch oc {
	case outcomeApplied:
		if p.known && changed != (p.last != v) {
			l.contradictions++
		}
		p.acked, p.known, p.last = true, true, v
	case outcomeUncertain:
		p.uncertain, p.known = true, false
		l.uncertainWrites++
	}
}

// opinionPosted records the answer to a new opinion.
func (l *ledger) opinionPosted(oc lgOutcome) {
	switch oc {
	case outcomeApplied:
		l.opinionsAcked++
	case outcomeUncertain:
		l.opinionsUncertain++
		l.uncertainWrites++
	}
}

// compareCurrent compares the participant's current votes on the server,
// by opinion (-1 for an unknown name), with what it knows of each pair.
func (l *ledger) compareCurrent(current map[string]int) {
	for oid, p := range l.pairs {
		if !p.known {
			continue
		}
		l.currentChecked++
		if v, ok := current[oid]; (ok || p.last >= 0) && v != p.last {
			l.currentWrong++
		}
	}
}

// writeTally sums the ledgers of every participant. Safe for concurrent use.
type writeTally struct {
	mu sync.Mutex
	t  tallyTotals // guarded by mu
}

// tallyTotals are what the server acknowledged over the whole run, and
// what it may have applied without saying so.
type tallyTotals struct {
	opinionsAcked, opinionsUncertain         int
	votesAcked, votesUncertain               int
	participantsAcked, participantsUncertain int
	uncertainWrites, contradictions          int
	// currentChecked and currentWrong count the pairs compared with the
	// server's current votes, currentUnread the participants whose votes
	// could not be read.
	currentChecked, currentWrong, currentUnread int
}

// add adds one participant's ledger.
func (w *writeTally) add(l *ledger) {
	var votesAcked, votesUncertain int
	for _, p := range l.pairs {
		switch {
		case p.acked:
			votesAcked++
		case p.uncertain:
			votesUncertain++
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t := &w.t
	t.opinionsAcked += l.opinionsAcked
	t.opinionsUncertain += l.opinionsUncertain
	t.votesAcked += votesAcked
	t.votesUncertain += votesUncertain
	switch {
	case votesAcked > 0 || l.opinionsAcked > 0:
		t.participantsAcked++
	case votesUncertain > 0 || l.opinionsUncertain > 0:
		t.participantsUncertain++
	}
	t.uncertainWrites += l.uncertainWrites
	t.contradictions += l.contradictions
	t.currentChecked += l.currentChecked
	t.currentWrong += l.currentWrong
	if l.currentUnread {
		t.currentUnread++
	}
}

func (w *writeTally) snapshot() tallyTotals {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

// lgCounters are a conversation's counters.
type lgCounters struct {
	Opinions     int `json:"opinion_count"`
	Votes        int `json:"vote_count"`
	Participants int `json:"participant_count"`
}

// lgConversation is a conversation as the check reads it.
type lgConversation struct {
	lgCounters
	Locked bool `json:"locked"`
}

// lgVerification is the verdict of the check, in the report.
type lgVerification struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Before and After are the counters read around the run; ExpectedMin
	// and ExpectedMax bound what After may be.
	Before      *lgCounters `json:"before,omitempty"`
	After       *lgCounters `json:"after,omitempty"`
	ExpectedMin *lgCounters `json:"expected_min,omitempty"`
	ExpectedMax *lgCounters `json:"expected_max,omitempty"`
	// UncertainWrites are the writes that may or may not have been applied
	// (answered 5xx, timed out, connection broken).
	UncertainWrites int `json:"uncertain_writes"`
	// ContradictedVotes are the votes whose "changed" contradicted the
	// participant's known vote.
	ContradictedVotes int `json:"contradicted_votes"`
	// CurrentVotesChecked and CurrentVotesWrong count the (participant,
	// opinion) pairs whose current vote was read back after a throughput
	// run, and those that differ from the last acknowledged vote.
	CurrentVotesChecked int `json:"current_votes_checked,omitempty"`
	CurrentVotesWrong   int `json:"current_votes_wrong,omitempty"`
}

// verifyCounters checks the counters after the run against those before
// and what was acknowledged.
func verifyCounters(before, after lgCounters, t tallyTotals) lgVerification {
	lo := lgCounters{
		Opinions:     before.Opinions + t.opinionsAcked,
		Votes:        before.Votes + t.votesAcked + t.opinionsAcked,
		Participants: before.Participants + t.participantsAcked,
	}
	hi := lgCounters{
		Opinions:     lo.Opinions + t.opinionsUncertain,
		Votes:        lo.Votes + t.votesUncertain + t.opinionsUncertain,
		Participants: lo.Participants + t.participantsUncertain,
	}
	v := lgVerification{
		OK: true, Before: &before, After: &after, ExpectedMin: &lo, ExpectedMax: &hi,
		UncertainWrites: t.uncertainWrites, ContradictedVotes: t.contradictions,
		CurrentVotesChecked: t.currentChecked, CurrentVotesWrong: t.currentWrong,
	}
	var wrong, right []string
	check := func(name string, before, after, lo, hi int, why string) {
		expected := fmt.Sprint(lo)
		if hi > lo {
			expected = fmt.Sprintf("%d to %d", lo, hi)
		}
		line := fmt.Sprintf("%s %d -> %d, expected %s (%s)", name, before, after, expected, why)
		switch {
		case after < lo:
			wrong = append(wrong, fmt.Sprintf("%s: difference %d", line, after-lo))
		case after > hi:
			wrong = append(wrong, fmt.Sprintf("%s: difference +%d", line, after-hi))
		default:
			right = append(right, line)
		}
	}
	check("opinion_count", before.Opinions, after.Opinions, lo.Opinions, hi.Opinions,
		fmt.Sprintf("+%d opinions acknowledged", t.opinionsAcked))
	check("vote_count", before.Votes, after.Votes, lo.Votes, hi.Votes,
		fmt.Sprintf("+%d votes acknowledged on new pairs, +%d authors' votes", t.votesAcked, t.opinionsAcked))
	check("participant_count", before.Participants, after.Participants, lo.Participants, hi.Participants,
		fmt.Sprintf("+%d participants with an acknowledged write", t.participantsAcked))
	if t.contradictions > 0 {
		wrong = append(wrong, fmt.Sprintf("%d acknowledged votes answered a \"changed\" that contradicts the previous acknowledged vote of the participant",
			t.contradictions))
	}
	switch {
	case t.currentWrong > 0:
		wrong = append(wrong, fmt.Sprintf("the server's current votes differ from the last acknowledged ones on %d of %d (participant, opinion) pairs",
			t.currentWrong, t.currentChecked))
	case t.currentUnread > 0:
		wrong = append(wrong, fmt.Sprintf("the current votes of %d participants could not be read back", t.currentUnread))
	case t.currentChecked > 0:
		right = append(right, fmt.Sprintf("the server's current votes equal the last acknowledged ones on all %d pairs", t.currentChecked))
	}
	uncertain := fmt.Sprintf("%d uncertain writes tolerated", t.uncertainWrites)
	if len(wrong) > 0 {
		v.OK = false
		v.Detail = "the server does not hold what it acknowledged: " + strings.Join(wrong, "; ") + "; " + uncertain
		if len(right) > 0 {
			v.Detail += "; as expected: " + strings.Join(right, "; ")
		}
		return v
	}
	v.Detail = "the counters moved by what the server acknowledged: " + strings.Join(right, "; ") + "; " + uncertain
	return v
}
