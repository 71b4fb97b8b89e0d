package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// clusterNode is one `agora serve` process of a test cluster, on a
// loopback address of its own.
type clusterNode struct {
	name, host, httpAddr, gossipAddr string
	cmd                              *exec.Cmd
	log                              *bytes.Buffer
}

type testCluster struct {
	t      *testing.T
	bin    string
	pgURL  string
	seed   string
	nodes  []*clusterNode
	client *http.Client
}

const clusterAdmin = "cluster-admin"

// startCluster starts n nodes on 127.0.0.(base+i) against one fresh
// PostgreSQL database, with gossip timings shrunk to milliseconds.
func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	bin, err := buildAgora()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDatabase(t)
	if _, err := postgres.Migrate(context.Background(), db.URL); err != nil {
		t.Fatal(err)
	}
	base := 20 + rand.IntN(200)
	tc := &testCluster{t: t, bin: bin, pgURL: db.URL, client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}}
	port := 20000 + rand.IntN(20000)
	for i := range n {
		host := fmt.Sprintf("127.0.%d.%d", base/250+1, base%250+i+1)
		nd := &clusterNode{name: fmt.Sprint("node", i+1), host: host,
			httpAddr: net.JoinHostPort(host, fmt.Sprint(port)), gossipAddr: net.JoinHostPort(host, fmt.Sprint(port+1))}
		tc.nodes = append(tc.nodes, nd)
	}
	tc.seed = tc.nodes[0].gossipAddr
	for _, nd := range tc.nodes {
		tc.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if nd.cmd != nil && nd.cmd.ProcessState == nil {
				nd.cmd.Process.Signal(syscall.SIGCONT)
				nd.cmd.Process.Kill()
				nd.cmd.Wait()
			}
		}
	})
	tc.waitServing(tc.nodes...)
	return tc
}

func (tc *testCluster) start(nd *clusterNode) {
	tc.t.Helper()
	nd.log = &bytes.Buffer{}
	nd.cmd = exec.Command(tc.bin, "serve", "--http-addr", nd.httpAddr, "--gossip-addr", nd.gossipAddr,
		"--join", tc.seed, "--node-name", nd.name, "--postgres", tc.pgURL, "--admin-token", clusterAdmin,
		"--rate-limit", "0", "--gossip-test-timings", "--drain-wait", "300ms", "--commit-timeout", "2s",
		"--log-format", "text")
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	if err := nd.cmd.Start(); err != nil {
		tc.t.Fatal(err)
	}
}

// waitServing waits until every given node answers and sees exactly the
// given nodes serving.
func (tc *testCluster) waitServing(nodes ...*clusterNode) {
	tc.t.Helper()
	var want []string
	for _, nd := range nodes {
		want = append(want, nd.name)
	}
	slices.Sort(want)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, nd := range nodes {
			var view struct {
				Members []struct{ Name, State string } `json:"members"`
			}
			code, err := call(tc.client, "GET", "http://"+nd.httpAddr+"/admin/cluster", clusterAdmin, nil, &view)
			var serving []string
			for _, m := range view.Members {
				if m.State == "serving" {
					serving = append(serving, m.Name)
				}
			}
			slices.Sort(serving)
			if err != nil || code != 200 || !slices.Equal(serving, want) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, nd := range tc.nodes {
				tc.t.Logf("%s log:\n%s", nd.name, nd.log.String())
			}
			tc.t.Fatalf("the cluster did not converge on %v", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tc *testCluster) url(nd *clusterNode, path string) string {
	return "http://" + nd.httpAddr + path
}

// voteLog is what one client knows of its writes: per opinion, the last
// acknowledged vote and the writes whose outcome it could not know.
type voteLog struct {
	token     string
	acked     map[string]string   // cid/oid -> vote ("" = none)
	uncertain map[string][]string // cid/oid -> possible outcomes since the last ack
	ok, fail  int
}

// fixture is a set of conversations with opinions, and voters.
type clusterFixture struct {
	convs    []string
	opinions map[string][]string
	voters   []*voteLog
}

func (tc *testCluster) fixture(convs, opinions, voters int) *clusterFixture {
	tc.t.Helper()
	f := &clusterFixture{opinions: map[string][]string{}}
	newToken := func(nd *clusterNode) string {
		var p map[string]string
		if code, err := call(tc.client, "POST", tc.url(nd, "/v1/participants"), "", nil, &p); err != nil || code != 201 {
			tc.t.Fatalf("participant: %d %v", code, err)
		}
		return p["token"]
	}
	for i := range convs {
		nd := tc.nodes[i%len(tc.nodes)]
		seeds := make([]string, opinions)
		for j := range seeds {
			seeds[j] = fmt.Sprintf("opinion %d of %d", j, i)
		}
		var c struct{ ID string }
		if code, err := call(tc.client, "POST", tc.url(nd, "/v1/conversations"), newToken(nd), map[string]any{"title": fmt.Sprint("c", i), "seed_opinions": seeds}, &c); err != nil || code != 201 {
			tc.t.Fatalf("conversation: %d %v", code, err)
		}
		var page struct{ Items []struct{ ID string } }
		if code, err := call(tc.client, "GET", tc.url(tc.nodes[(i+1)%len(tc.nodes)], "/v1/conversations/"+c.ID+"/opinions?limit=100"), "", nil, &page); err != nil || code != 200 {
			tc.t.Fatalf("opinions: %d %v", code, err)
		}
		f.convs = append(f.convs, c.ID)
		for _, it := range page.Items {
			f.opinions[c.ID] = append(f.opinions[c.ID], it.ID)
		}
	}
	for i := range voters {
		f.voters = append(f.voters, &voteLog{token: newToken(tc.nodes[i%len(tc.nodes)]), acked: map[string]string{}, uncertain: map[string][]string{}})
	}
	return f
}

// vote runs every voter against the nodes alive() returns until stop is
// closed; each voter's writes are sequential, so its log is exact.
func (tc *testCluster) vote(f *clusterFixture, alive func() []*clusterNode, stop <-chan struct{}, statuses *sync.Map) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, v := range f.voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			for {
				select {
				case <-stop:
					return
				default:
				}
				nodes := alive()
				nd := nodes[rng.IntN(len(nodes))]
				cid := f.convs[rng.IntN(len(f.convs))]
				oid := f.opinions[cid][rng.IntN(len(f.opinions[cid]))]
				vote := []string{"agree", "disagree", "pass", ""}[rng.IntN(4)]
				url := tc.url(nd, "/v1/conversations/"+cid+"/opinions/"+oid+"/vote")
				var code int
				var err error
				if vote == "" {
					code, err = call(tc.client, "DELETE", url, v.token, nil, nil)
				} else {
					code, err = call(tc.client, "PUT", url, v.token, map[string]string{"vote": vote}, nil)
				}
				key := cid + "/" + oid
				if n, _ := statuses.LoadOrStore(code, new(atomic.Int64)); n != nil {
					n.(*atomic.Int64).Add(1)
				}
				switch {
				case err == nil && code < 300:
					v.acked[key] = vote
					delete(v.uncertain, key)
					v.ok++
				case err == nil && code >= 400 && code < 500:
					tc.t.Errorf("vote answered %d", code)
					return
				default: // 503 or a transport error: it may or may not have happened
					v.uncertain[key] = append(v.uncertain[key], vote)
					v.fail++
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return &wg
}

// verify checks every acknowledged write against what the cluster serves,
// and the counters against the API's own vote lists and a recount of
// PostgreSQL.
func (tc *testCluster) verify(f *clusterFixture, nodes []*clusterNode) {
	tc.t.Helper()
	votesPer := map[string]int{}
	votersPer := map[string]int{}
	for i, v := range f.voters {
		nd := nodes[i%len(nodes)]
		for _, cid := range f.convs {
			var mine struct {
				Votes []struct {
					OpinionID string `json:"opinion_id"`
					Vote      string `json:"vote"`
				} `json:"votes"`
			}
			if code, err := call(tc.client, "GET", tc.url(nd, "/v1/conversations/"+cid+"/votes/me"), v.token, nil, &mine); err != nil || code != 200 {
				tc.t.Fatalf("votes/me: %d %v", code, err)
			}
			got := map[string]string{}
			for _, mv := range mine.Votes {
				got[mv.OpinionID] = mv.Vote
			}
			for _, oid := range f.opinions[cid] {
				key := cid + "/" + oid
				have := got[oid]
				if have == v.acked[key] || slices.Contains(v.uncertain[key], have) {
					continue
				}
				tc.t.Errorf("voter %d on %s: the cluster has %q, acknowledged %q (uncertain %v)", i, key, have, v.acked[key], v.uncertain[key])
			}
			votesPer[cid] += len(got)
			if len(got) > 0 {
				votersPer[cid]++
			}
		}
	}
	store, err := postgres.Open(context.Background(), tc.pgURL)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer store.Close()
	for _, cid := range f.convs {
		rc, err := store.RecountConversation(context.Background(), cid)
		if err != nil {
			tc.t.Fatal(err)
		}
		for _, nd := range nodes {
			var conv struct {
				VoteCount        int `json:"vote_count"`
				ParticipantCount int `json:"participant_count"`
			}
			if code, err := call(tc.client, "GET", tc.url(nd, "/v1/conversations/"+cid), "", nil, &conv); err != nil || code != 200 {
				tc.t.Fatalf("conversation from %s: %d %v", nd.name, code, err)
			}
			if conv.VoteCount != votesPer[cid] || conv.ParticipantCount != votersPer[cid] ||
				rc.VoteCount != conv.VoteCount || rc.ParticipantCount != conv.ParticipantCount {
				tc.t.Errorf("%s from %s: counters %+v, votes listed %d by %d voters, recount %+v", cid, nd.name, conv, votesPer[cid], votersPer[cid], rc)
			}
		}
	}
}

func countStatuses(m *sync.Map) map[int]int64 {
	out := map[int]int64{}
	m.Range(func(k, v any) bool { out[k.(int)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// runScenario votes on a 3-node cluster, applies disrupt to node 2 while
// clients vote, lets them vote on, and verifies that nothing acknowledged
// was lost or counted twice.
func runScenario(t *testing.T, disrupt func(tc *testCluster, nd *clusterNode) (alive []*clusterNode)) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(6, 8, 30)
	var mu sync.Mutex
	alive := tc.nodes
	aliveNow := func() []*clusterNode { mu.Lock(); defer mu.Unlock(); return alive }
	var statuses sync.Map
	stop := make(chan struct{})
	wg := tc.vote(f, aliveNow, stop, &statuses)
	time.Sleep(700 * time.Millisecond)
	survivors := disrupt(tc, tc.nodes[1])
	mu.Lock()
	alive = survivors
	mu.Unlock()
	time.Sleep(1500 * time.Millisecond)

	// After the disruption has settled, every write must succeed again.
	var after sync.Map
	close(stop)
	wg.Wait()
	stop2 := make(chan struct{})
	wg2 := tc.vote(f, aliveNow, stop2, &after)
	time.Sleep(700 * time.Millisecond)
	close(stop2)
	wg2.Wait()
	t.Logf("statuses during the disruption %v, after it %v", countStatuses(&statuses), countStatuses(&after))
	for code, n := range countStatuses(&after) {
		if code != 200 && code != 204 {
			t.Errorf("after the disruption settled, %d requests answered %d", n, code)
		}
	}
	if t.Failed() {
		for _, nd := range tc.nodes {
			t.Logf("%s log (warnings and errors):\n%s", nd.name, tailProblems(nd.log.String(), 15))
		}
	}
	acked := 0
	for _, v := range f.voters {
		acked += v.ok
	}
	if acked < 500 {
		t.Fatalf("only %d writes acknowledged: the scenario did not load the cluster", acked)
	}
	tc.verify(f, survivors)
}

func TestClusterAnyNodeAnswersForAnyConversation(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(9, 4, 3)
	owners := map[string]bool{}
	for _, cid := range f.convs {
		var first []byte
		for _, nd := range tc.nodes {
			var conv map[string]any
			if code, err := call(tc.client, "GET", tc.url(nd, "/v1/conversations/"+cid), "", nil, &conv); err != nil || code != 200 {
				t.Fatalf("%s from %s: %d %v", cid, nd.name, code, err)
			}
			b, _ := json.Marshal(conv)
			if first == nil {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Fatalf("%s: %s answers %s, another node %s", cid, nd.name, b, first)
			}
			var st struct{ Owner string }
			if code, err := call(tc.client, "GET", tc.url(nd, "/admin/conversations/"+cid+"/state"), clusterAdmin, nil, &st); err != nil || code != 200 {
				t.Fatalf("state of %s from %s: %d %v", cid, nd.name, code, err)
			}
			owners[st.Owner] = true
		}
	}
	if len(owners) < 2 {
		t.Fatalf("9 conversations all owned by %v: placement does not spread them", owners)
	}
}

func TestClusterDrainWithSIGTERM(t *testing.T) {
	runScenario(t, func(tc *testCluster, nd *clusterNode) []*clusterNode {
		nd.cmd.Process.Signal(syscall.SIGTERM)
		if err := nd.cmd.Wait(); err != nil {
			t.Errorf("the drained node exited with %v\n%s", err, nd.log.String())
		}
		return []*clusterNode{tc.nodes[0], tc.nodes[2]}
	})
}

func TestClusterNodeKilledWithSIGKILL(t *testing.T) {
	runScenario(t, func(tc *testCluster, nd *clusterNode) []*clusterNode {
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
		tc.waitServing(tc.nodes[0], tc.nodes[2])
		return []*clusterNode{tc.nodes[0], tc.nodes[2]}
	})
}

func TestClusterNodeFrozenWithSIGSTOP(t *testing.T) {
	runScenario(t, func(tc *testCluster, nd *clusterNode) []*clusterNode {
		nd.cmd.Process.Signal(syscall.SIGSTOP)
		tc.waitServing(tc.nodes[0], tc.nodes[2])
		time.Sleep(500 * time.Millisecond) // the others take its conversations over
		nd.cmd.Process.Signal(syscall.SIGCONT)
		tc.waitServing(tc.nodes...)
		return tc.nodes
	})
}

func TestClusterRestartedNodeRejoins(t *testing.T) {
	tc := startTestCluster(t, 3)
	nd := tc.nodes[2]
	nd.cmd.Process.Kill()
	nd.cmd.Wait()
	tc.waitServing(tc.nodes[0], tc.nodes[1])
	tc.start(nd)
	tc.waitServing(tc.nodes...)
	var view struct {
		Members []struct{ Name string } `json:"members"`
	}
	if code, err := call(tc.client, "GET", tc.url(tc.nodes[0], "/admin/cluster"), clusterAdmin, nil, &view); err != nil || code != 200 {
		t.Fatalf("cluster: %d %v", code, err)
	}
	if len(view.Members) != 3 {
		t.Fatalf("members %+v: want one entry per node", view.Members)
	}
}

// ownerOf returns the node that owns a conversation, as the admin API
// says, and the others in node order.
func (tc *testCluster) ownerOf(cid string) (owner *clusterNode, others []*clusterNode) {
	tc.t.Helper()
	var st struct{ Owner string }
	if code, err := call(tc.client, "GET", tc.url(tc.nodes[0], "/admin/conversations/"+cid+"/state"), clusterAdmin, nil, &st); err != nil || code != 200 {
		tc.t.Fatalf("state of %s: %d %v", cid, code, err)
	}
	for _, nd := range tc.nodes {
		if nd.name == st.Owner {
			owner = nd
		} else {
			others = append(others, nd)
		}
	}
	if owner == nil {
		tc.t.Fatalf("owner %q is not a node of the cluster", st.Owner)
	}
	return owner, others
}

// resumeStream reopens a conversation's stream on nd, resuming after
// lastID, once nd answers it: it may answer 503 while the conversation
// moves, for up to 20 s.
func (tc *testCluster) resumeStream(nd *clusterNode, cid, lastID string) *sseStream {
	tc.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("GET", tc.url(nd, "/v1/conversations/"+cid+"/events"), nil)
		resp, err := tc.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return openStreamAt(tc.t, "http://"+nd.httpAddr, cid, lastID)
			}
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("no stream on %s after the owner changed: %v", nd.name, err)
		}
	}
}

// tailProblems returns the last n warning and error lines of a log.
func tailProblems(log string, n int) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, line)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// TestClusterLiveUpdates opens a conversation's stream on a node that does
// not own it: the node relays the owner's events. When the owner is killed
// the relayed stream ends, and the client's resume with Last-Event-ID on the
// same node gets `reset` (the new owner's hub does not hold the old
// incarnation's events), then the new owner's events.
func TestClusterLiveUpdates(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(1, 2, 1)
	cid, token := f.convs[0], f.voters[0].token
	owner, others := tc.ownerOf(cid)
	relay, other := others[0], others[1]
	post := func(nd *clusterNode, text string) string {
		t.Helper()
		var op struct{ ID string }
		if code, err := call(tc.client, "POST", tc.url(nd, "/v1/conversations/"+cid+"/opinions"), token, map[string]any{"text": text}, &op); err != nil || code != 201 {
			t.Fatalf("opinion through %s: %d %v", nd.name, code, err)
		}
		return op.ID
	}

	s := openStreamAt(t, "http://"+relay.httpAddr, cid, "")
	first, _ := s.next("counters")
	if first.data["opinion_count"].(float64) != 2 {
		t.Fatalf("first snapshot through %s: %v", relay.name, first.data)
	}
	id := post(other, "relayed")
	e, _ := s.next("opinion")
	if e.data["id"] != id || e.id == "" {
		t.Fatalf("opinion event through %s: %+v, want %s", relay.name, e, id)
	}
	if code, err := call(tc.client, "PUT", tc.url(owner, "/v1/conversations/"+cid+"/opinions/"+f.opinions[cid][0]+"/vote"), token, map[string]string{"vote": "agree"}, nil); err != nil || code != 200 {
		t.Fatalf("vote: %d %v", code, err)
	}
	// The author's vote on the new opinion and this one.
	for want := first.data["vote_count"].(float64) + 2; ; {
		if c, _ := s.next("counters"); c.data["vote_count"].(float64) == want {
			break
		}
	}

	owner.cmd.Process.Kill()
	owner.cmd.Wait()
	s.ended(20 * time.Second)
	tc.waitServing(relay, other)
	r := tc.resumeStream(relay, cid, e.id)
	r.next("reset")
	id = post(relay, "after the move")
	if e, _ := r.next("opinion"); e.data["id"] != id {
		t.Fatalf("opinion event after the move: %+v, want %s", e, id)
	}
}

// TestClusterIdempotencyAcrossNodes posts an opinion with an Idempotency-Key
// through a node that does not own the conversation, kills the owner, and
// retries through the third node once another owns it: the retry replays
// the first answer, and the conversation has one such opinion.
func TestClusterIdempotencyAcrossNodes(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(1, 1, 1)
	cid, token := f.convs[0], f.voters[0].token
	owner, others := tc.ownerOf(cid)
	post := func(nd *clusterNode) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", tc.url(nd, "/v1/conversations/"+cid+"/opinions"), strings.NewReader(`{"text":"posted once"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", "across-nodes")
		resp, err := tc.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	code, _, first := post(others[0])
	if code != 201 {
		t.Fatalf("first post through %s: %d %s", others[0].name, code, first)
	}
	owner.cmd.Process.Kill()
	owner.cmd.Wait()
	tc.waitServing(others...)
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, h, body := post(others[1])
		if code == 503 && time.Now().Before(deadline) { // the conversation is moving
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if code != 201 || h.Get("Idempotent-Replayed") != "true" || !bytes.Equal(body, first) {
			t.Fatalf("retry through %s after the owner died: %d (replayed %q) %s, want the first answer %s", others[1].name, code, h.Get("Idempotent-Replayed"), body, first)
		}
		break
	}
	var conv struct {
		OpinionCount int `json:"opinion_count"`
	}
	if code, err := call(tc.client, "GET", tc.url(others[1], "/v1/conversations/"+cid), "", nil, &conv); err != nil || code != 200 || conv.OpinionCount != 2 {
		t.Fatalf("conversation after the retry: %d %v, %d opinions, want 2 (the seed and the one post)", code, err, conv.OpinionCount)
	}
}

// TestClusterRelayedStreamEndsWhenTheOwnerFreezes: a frozen owner keeps its
// connections open and silent, so the relay cannot tell from the stream;
// once the cluster has moved the conversation, the relayed stream ends,
// and the client's resume gets reset, then the new owner's events.
func TestClusterRelayedStreamEndsWhenTheOwnerFreezes(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(1, 1, 1)
	cid, token := f.convs[0], f.voters[0].token
	owner, others := tc.ownerOf(cid)
	relay := others[0]
	s := openStreamAt(t, "http://"+relay.httpAddr, cid, "")
	s.next("counters")
	owner.cmd.Process.Signal(syscall.SIGSTOP)
	defer owner.cmd.Process.Signal(syscall.SIGCONT)
	tc.waitServing(others...)
	s.ended(20 * time.Second)

	r := tc.resumeStream(relay, cid, "1")
	r.next("reset")
	var op struct{ ID string }
	if code, err := call(tc.client, "POST", tc.url(others[1], "/v1/conversations/"+cid+"/opinions"), token, map[string]any{"text": "after the freeze"}, &op); err != nil || code != 201 {
		t.Fatalf("opinion after the freeze: %d %v", code, err)
	}
	if e, _ := r.next("opinion"); e.data["id"] != op.ID {
		t.Fatalf("opinion event after the freeze: %+v, want %s", e, op.ID)
	}
}

// TestClusterRelayedStreamsLeaveNothingBehind relays streams, which the
// owner then ends (a passivation closes the conversation's hub): the
// relaying node's goroutines are back to about where they were. Each relay
// used to leave one goroutine behind until the process exited.
func TestClusterRelayedStreamsLeaveNothingBehind(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(1, 1, 1)
	cid := f.convs[0]
	owner, others := tc.ownerOf(cid)
	relay := others[0]
	goroutines := func() float64 {
		t.Helper()
		req, _ := http.NewRequest("GET", tc.url(relay, "/metrics"), nil)
		resp, err := tc.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
				var n float64
				fmt.Sscan(v, &n)
				return n
			}
		}
		t.Fatal("no go_goroutines in /metrics")
		return 0
	}
	before := goroutines()
	const streams = 60
	var opened []*sseStream
	for range streams {
		s := openStreamAt(t, "http://"+relay.httpAddr, cid, "")
		s.next("counters")
		opened = append(opened, s)
	}
	if code, err := call(tc.client, "POST", tc.url(owner, "/admin/conversations/"+cid+"/passivate"), clusterAdmin, nil, nil); err != nil || code != 204 {
		t.Fatalf("passivate on the owner: %d %v", code, err)
	}
	for _, s := range opened {
		s.ended(20 * time.Second)
	}
	// fasthttp keeps the workers that served the streams idle for about
	// 20 s before they leave: wait for them, up to 40 s.
	after := goroutines()
	for deadline := time.Now().Add(40 * time.Second); after >= before+streams/4 && time.Now().Before(deadline); after = goroutines() {
		time.Sleep(100 * time.Millisecond)
	}
	if after >= before+streams/4 {
		t.Fatalf("%v goroutines on %s after %d relayed streams ended, %v before", after, relay.name, streams, before)
	}
}

// TestClusterForwardsAfterTheOwnerRestarted: the other nodes keep pooled
// connections to a node; when it restarts, those are dead. A read sent to
// them once the node is back is retried on a new connection, not answered
// 503.
func TestClusterForwardsAfterTheOwnerRestarted(t *testing.T) {
	tc := startTestCluster(t, 3)
	f := tc.fixture(6, 1, 1)
	restarted := tc.nodes[2]
	var owned []string
	for _, cid := range f.convs {
		if owner, _ := tc.ownerOf(cid); owner == restarted {
			owned = append(owned, cid)
		}
	}
	if len(owned) == 0 {
		t.Fatal("no conversation of the fixture is placed on the restarted node")
	}
	read := func(cid string) int {
		code, err := call(tc.client, "GET", tc.url(tc.nodes[0], "/v1/conversations/"+cid), "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	for _, cid := range owned { // the first node pools connections to the owner
		if code := read(cid); code != 200 {
			t.Fatalf("read of %s before the restart: %d", cid, code)
		}
	}
	restarted.cmd.Process.Kill()
	restarted.cmd.Wait()
	tc.waitServing(tc.nodes[0], tc.nodes[1])
	tc.start(restarted)
	tc.waitServing(tc.nodes...)
	for _, cid := range owned {
		if owner, _ := tc.ownerOf(cid); owner != restarted {
			t.Fatalf("%s is owned by %s after the rejoin, not %s", cid, owner.name, restarted.name)
		}
	}
	for _, cid := range owned {
		if code := read(cid); code != 200 {
			t.Errorf("read of %s through %s after its owner restarted: %d", cid, tc.nodes[0].name, code)
		}
	}
}
