package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"
)

// The API's answers, as far as the load generator reads them.

type lgParticipant struct {
	ID    string `json:"participant_id"`
	Token string `json:"token"`
}

type lgOpinionPage struct {
	Items []lgPageItem `json:"items"`
}

type lgPageItem struct {
	ID       string `json:"id"`
	AuthorID string `json:"author_id"`
}

type lgVoteAnswer struct {
	Changed bool `json:"changed"`
}

func (p *lgParticipant) decode(v *fastjson.Value) error {
	p.ID, p.Token = string(v.GetStringBytes("participant_id")), string(v.GetStringBytes("token"))
	return nil
}

func (pg *lgOpinionPage) decode(v *fastjson.Value) error {
	items := v.Get("items")
	if items == nil || items.Type() != fastjson.TypeArray {
		return errBadBody
	}
	pg.Items = pg.Items[:0]
	for _, it := range v.GetArray("items") {
		id := it.GetStringBytes("id")
		if id == nil {
			return errBadBody
		}
		pg.Items = append(pg.Items, lgPageItem{ID: string(id), AuthorID: string(it.GetStringBytes("author_id"))})
	}
	return nil
}

func (a *lgVoteAnswer) decode(v *fastjson.Value) error {
	a.Changed = v.GetBool("changed")
	return nil
}

// lgVoteNames are the three votes; lgVoteBodies their request bodies.
var (
	lgVoteNames  = [3]string{"agree", "disagree", "pass"}
	lgVoteBodies = [3][]byte{[]byte(`{"vote":"agree"}`), []byte(`{"vote":"disagree"}`), []byte(`{"vote":"pass"}`)}
)

// lgWords make up the opinions' texts, so that they are not all alike.
var lgWords = strings.Fields(`public transport housing rent schools parks cycling noise taxes libraries
	budget youth elders safety water energy trees markets jobs clinics streets bridges housing tenants
	participation neighbourhood council climate heat flooding parking buses night culture sport`)

// pause sleeps a think time. It reports false, at once or after the
// sleep, when the VU must stop.
func (g *loadgen) pause(ctx context.Context, rng *rand.Rand, keep func() bool) bool {
	if !keep() {
		return false
	}
	if d := g.cfg.Think.pick(rng); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	return keep()
}

// runVU is one scenario VU: iteration after iteration, each as a new
// participant, while keep says so. It runs in its own goroutine.
func (g *loadgen) runVU(ctx context.Context, slot int, keep func() bool) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, g.vuStarts.Add(1)))
	for keep() {
		g.iteration(ctx, rng, slot, int(g.iterations.Add(1)), keep)
	}
}

// iteration is what one participant does: register, read the
// conversation and a page of opinions, then post opinions and vote on
// opinions of that page (never its own, never twice) in random order,
// with a think time before every action. Its acknowledged writes go to the
// tally when it ends, however it ends.
func (g *loadgen) iteration(ctx context.Context, rng *rand.Rand, slot, iter int, keep func() bool) {
	l := newLedger()
	defer g.tally.add(l)
	c := g.client

	if !g.pause(ctx, rng, keep) {
		return
	}
	var p lgParticipant
	if _, oc := c.do(opCreateParticipant, "POST", "/v1/participants", "", nil, &p); oc != outcomeApplied || p.Token == "" {
		return
	}
	if !g.pause(ctx, rng, keep) {
		return
	}
	c.do(opGetConversation, "GET", c.convPath, p.Token, nil, nil)
	if !g.pause(ctx, rng, keep) {
		return
	}
	var page lgOpinionPage
	c.do(opListOpinions, "GET", fmt.Sprintf("%s?limit=%d", c.opinionsPath, g.cfg.PageSize), p.Token, nil, &page)
	candidates := make([]string, 0, len(page.Items))
	for _, o := range page.Items {
		if o.AuthorID != p.ID {
			candidates = append(candidates, o.ID)
		}
	}
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })

	opinions, votes := g.cfg.Opinions.pick(rng), g.cfg.Votes.pick(rng)
	actions := make([]bool, opinions+votes) // true: post an opinion; false: vote
	for i := range opinions {
		actions[i] = true
	}
	rng.Shuffle(len(actions), func(i, j int) { actions[i], actions[j] = actions[j], actions[i] })
	for n, postOpinion := range actions {
		if !postOpinion && len(candidates) == 0 {
			continue // nothing left to vote on
		}
		if !g.pause(ctx, rng, keep) {
			return
		}
		if postOpinion {
			_, oc := c.do(opCreateOpinion, "POST", c.opinionsPath, p.Token, lgOpinionText(rng, slot, iter, n), nil)
			l.opinionPosted(oc)
			continue
		}
		oid := candidates[len(candidates)-1]
		candidates = candidates[:len(candidates)-1]
		g.vote(l, p.Token, oid, rng.IntN(3))
	}
}

// vote casts one vote and records it in the participant's ledger.
func (g *loadgen) vote(l *ledger, token, oid string, v int) {
	var a lgVoteAnswer
	_, oc := g.client.do(opVote, "PUT", g.client.opinionsPath+"/"+oid+"/vote", token, lgVoteBodies[v], &a)
	l.voted(oid, v, oc, a.Changed)
}

// lgOpinionText returns the JSON body of a new opinion.
func lgOpinionText(rng *rand.Rand, slot, iter, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"text":"Load test opinion %d.%d.%d:`, slot, iter, n)
	for range 6 + rng.IntN(10) {
		b.WriteByte(' ')
		b.WriteString(lgWords[rng.IntN(len(lgWords))])
	}
	b.WriteString(`"}`)
	return []byte(b.String())
}

// runThroughput runs closed-loop clients that change votes as fast as the
// server answers, for --duration.
func (g *loadgen) runThroughput(ctx context.Context, rep *loadgenReport) error {
	c := g.client
	var page lgOpinionPage
	path := fmt.Sprintf("%s?limit=%d", c.opinionsPath, g.cfg.PageSize)
	if status, oc := c.do(opListOpinions, "GET", path, "", nil, &page); oc != outcomeApplied {
		return fmt.Errorf("list the opinions to vote on: GET %s: status %d", path, status)
	}
	if len(page.Items) == 0 {
		return fmt.Errorf("conversation %s has no visible opinion to vote on: post some first", g.cfg.Conversation)
	}
	opinions := make([]string, len(page.Items))
	for i, o := range page.Items {
		opinions[i] = o.ID
	}

	// Every client registers its participant first; the clock starts when
	// all are ready.
	tokens := make([]string, g.cfg.Clients)
	var ready sync.WaitGroup
	for i := range tokens {
		ready.Go(func() {
			for range 3 {
				var p lgParticipant
				if _, oc := c.do(opCreateParticipant, "POST", "/v1/participants", "", nil, &p); oc == outcomeApplied && p.Token != "" {
					tokens[i] = p.Token
					return
				}
			}
		})
	}
	ready.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	runCtx, cancel := context.WithTimeout(ctx, g.cfg.Duration)
	defer cancel()
	g.start = time.Now()
	ledgers := make([]*ledger, len(tokens))
	var clients sync.WaitGroup
	for i, token := range tokens {
		if token == "" {
			continue // its participant could not be created: counted as errors
		}
		ledgers[i] = newLedger()
		c.peakClients.Add(1)
		c.activeClients.Add(1)
		clients.Go(func() {
			defer c.activeClients.Add(-1)
			g.runClient(runCtx, token, opinions, ledgers[i])
		})
	}
	watched := make(chan struct{})
	go g.watch(runCtx, watched)
	clients.Wait()
	rep.DurationS = g.elapsed().Seconds()
	cancel()
	<-watched

	votes := c.stats.ops[opVote].latency.count() - c.stats.ops[opVote].errors.Load()
	perSecond := lgRound(float64(votes) / rep.DurationS)
	rep.VotesPerSecond = &perSecond

	// Every client's current votes, as the server has them, must be the
	// last ones it acknowledged.
	for i, l := range ledgers {
		if l != nil {
			g.checkCurrentVotes(tokens[i], l)
			g.tally.add(l)
		}
	}
	return nil
}

// checkCurrentVotes compares the server's current votes of a participant
// (votes/me) with the last votes it acknowledged, and records the result
// in the participant's ledger.
func (g *loadgen) checkCurrentVotes(token string, l *ledger) {
	var mine struct {
		Votes []struct {
			OpinionID string `json:"opinion_id"`
			Vote      string `json:"vote"`
		} `json:"votes"`
	}
	status, _, err := g.client.send("GET", g.client.convPath+"/votes/me", token, nil, &mine)
	if err != nil || status != 200 {
		l.currentUnread = true
		return
	}
	current := map[string]int{}
	for _, v := range mine.Votes {
		current[v.OpinionID] = slices.Index(lgVoteNames[:], v.Vote)
	}
	l.compareCurrent(current)
}

// runClient is one closed-loop client of throughput mode: it votes on
// random opinions of the page, each vote different from the client's
// previous one on that opinion, so that every vote is a change the server
// must commit.
func (g *loadgen) runClient(ctx context.Context, token string, opinions []string, l *ledger) {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, g.vuStarts.Add(1)))
	for ctx.Err() == nil {
		oid := opinions[rng.IntN(len(opinions))]
		v := rng.IntN(3)
		if last, known := l.lastVote(oid); known {
			v = (last + 1 + rng.IntN(2)) % 3
		}
		g.vote(l, token, oid, v)
	}
}
