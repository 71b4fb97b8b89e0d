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
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
	"github.com/agora-dev/agora/persist/sqlite"
)

// serverProcess is a real `agora serve` process, so that a test can kill
// it the hard way.
type serverProcess struct {
	bin, dataDir, addr, adminToken string
	// postgres, when set, is the store instead of dataDir's SQLite.
	postgres string
	// extraArgs are more flags for serve.
	extraArgs []string
	cmd       *exec.Cmd
	log       bytes.Buffer
}

// binDir holds the binary the process tests build, removed by TestMain.
var binDir string

// buildAgora builds the binary once per test run.
var buildAgora = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "agora-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "agora")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestMain removes what the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startProcess(tb testing.TB, p *serverProcess) {
	tb.Helper()
	p.log.Reset()
	args := []string{"serve", "--http-addr", p.addr, "--data-dir", p.dataDir,
		"--admin-token", p.adminToken, "--rate-limit", "0", "--log-format", "text"}
	if p.postgres != "" {
		args = append(args, "--postgres", p.postgres)
	}
	args = append(args, p.extraArgs...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server not ready: %v\n%s", err, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends a JSON request and decodes a JSON answer into out.
func call(client *http.Client, method, url, token string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// TestDurability stops the server while 100 clients vote, with SIGKILL (a
// crash) and with SIGTERM (a graceful stop, which must exit 0), on each
// store; restarted on the same store, it has every write that was
// acknowledged, with counters equal to a recount of the store.
func TestDurability(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
			t.Run(fmt.Sprintf("%s on %s", sig, store), func(t *testing.T) { testDurability(t, store, sig) })
		}
	}
}

func testDurability(t *testing.T, store string, sig syscall.Signal) {
	bin, err := buildAgora()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{bin: bin, dataDir: t.TempDir(), addr: freeAddr(t), adminToken: "durability-admin"}
	if store == "postgres" {
		p.postgres = pgtest.NewDatabase(t).URL
	}
	startProcess(t, p)
	defer func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	base := "http://" + p.addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

	newParticipant := func() (string, string) {
		var out struct{ ParticipantID, Token string }
		var raw map[string]string
		if code, err := call(client, "POST", base+"/v1/participants", "", nil, &raw); err != nil || code != 201 {
			t.Fatalf("create participant: %d %v", code, err)
		}
		out.ParticipantID, out.Token = raw["participant_id"], raw["token"]
		return out.ParticipantID, out.Token
	}
	_, author := newParticipant()
	seeds := make([]string, 30)
	for i := range seeds {
		seeds[i] = fmt.Sprintf("seed opinion %d", i)
	}
	var conv struct{ ID string }
	if code, err := call(client, "POST", base+"/v1/conversations", author, map[string]any{"title": "durability", "seed_opinions": seeds}, &conv); err != nil || code != 201 {
		t.Fatalf("create conversation: %d %v", code, err)
	}
	var page struct{ Items []struct{ ID string } }
	if code, err := call(client, "GET", base+"/v1/conversations/"+conv.ID+"/opinions?limit=100", "", nil, &page); err != nil || code != 200 {
		t.Fatalf("list opinions: %d %v", code, err)
	}

	// Each client votes, changes and cancels on its own participant and
	// records what was acknowledged, and what was in flight when the
	// process died (that one may or may not have been committed).
	type op struct {
		oid  string
		vote string // "" cancels
	}
	type clientLog struct {
		token    string
		acked    map[string]string // oid -> vote of the last acknowledged write
		inflight *op
		writes   int
	}
	const clients = 100
	logs := make([]*clientLog, clients)
	for i := range logs {
		_, token := newParticipant()
		logs[i] = &clientLog{token: token, acked: map[string]string{}}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, cl := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				o := op{oid: page.Items[rng.IntN(len(page.Items))].ID, vote: []string{"agree", "disagree", "pass", ""}[rng.IntN(4)]}
				cl.inflight = &o
				url := base + "/v1/conversations/" + conv.ID + "/opinions/" + o.oid + "/vote"
				var code int
				var err error
				if o.vote == "" {
					code, err = call(client, "DELETE", url, cl.token, nil, nil)
				} else {
					code, err = call(client, "PUT", url, cl.token, map[string]string{"vote": o.vote}, nil)
				}
				if err != nil {
					return // the server died with this write in flight
				}
				if code == http.StatusServiceUnavailable && sig == syscall.SIGTERM {
					return // the server is draining; this write may or may not commit
				}
				if code >= 300 {
					t.Errorf("write answered %d before the signal", code)
					return
				}
				cl.inflight = nil
				cl.writes++
				if o.vote == "" {
					delete(cl.acked, o.oid)
				} else {
					cl.acked[o.oid] = o.vote
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); sig == syscall.SIGTERM && err != nil {
		t.Fatalf("SIGTERM under load: the server exited with %v\n%s", err, p.log.String())
	}
	close(stop)
	wg.Wait()
	total := 0
	for _, cl := range logs {
		total += cl.writes
	}
	if total < 1000 {
		t.Fatalf("only %d writes acknowledged before the signal: the test did not load the server", total)
	}
	t.Logf("%d writes acknowledged before %s", total, sig)

	startProcess(t, p)
	lost := 0
	wantVotes := 0
	voters := 0
	for _, cl := range logs {
		var raw struct {
			Votes []struct {
				OpinionID string `json:"opinion_id"`
				Vote      string `json:"vote"`
			} `json:"votes"`
		}
		if code, err := call(client, "GET", base+"/v1/conversations/"+conv.ID+"/votes/me", cl.token, nil, &raw); err != nil || code != 200 {
			t.Fatalf("votes/me after restart: %d %v", code, err)
		}
		got := map[string]string{}
		for _, v := range raw.Votes {
			got[v.OpinionID] = v.Vote
		}
		for _, it := range page.Items {
			want, had := cl.acked[it.ID]
			have, has := got[it.ID]
			if cl.inflight != nil && cl.inflight.oid == it.ID {
				// Either outcome of the write in flight is acceptable.
				if (has == had && have == want) || (cl.inflight.vote == "" && !has) || (cl.inflight.vote != "" && has && have == cl.inflight.vote) {
					continue
				}
			}
			if has != had || have != want {
				lost++
				t.Errorf("participant vote on %s: after restart %q (present %v), acknowledged %q (present %v)", it.ID, have, has, want, had)
			}
		}
		wantVotes += len(got)
		if len(got) > 0 {
			voters++
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	var after struct {
		VoteCount        int `json:"vote_count"`
		ParticipantCount int `json:"participant_count"`
		OpinionCount     int `json:"opinion_count"`
	}
	if code, err := call(client, "GET", base+"/v1/conversations/"+conv.ID, "", nil, &after); err != nil || code != 200 {
		t.Fatalf("conversation after restart: %d %v", code, err)
	}
	if after.VoteCount != wantVotes || after.ParticipantCount != voters || after.OpinionCount != len(seeds) {
		t.Fatalf("counters %+v, want votes %d, participants %d, opinions %d", after, wantVotes, voters, len(seeds))
	}

	// Stop cleanly and recount from the store itself.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, p.log.String())
	}
	var db interface {
		agora.Auditor
		Close() error
	}
	if p.postgres != "" {
		db, err = postgres.Open(context.Background(), p.postgres)
	} else {
		db, err = sqlite.Open(context.Background(), filepath.Join(p.dataDir, sqlite.FileName))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rc, err := db.RecountConversation(context.Background(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.VoteCount != after.VoteCount || rc.ParticipantCount != after.ParticipantCount || rc.OpinionCount != after.OpinionCount {
		t.Fatalf("served counters %+v, recount %+v", after, rc)
	}
}
