package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// gossipPort finds a port free on the loopback addresses the test uses.
func gossipPort(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(20000)
		free := true
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, fmt.Sprint(port)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
			pc, err := net.ListenPacket("udp", net.JoinHostPort(h, fmt.Sprint(port)))
			if err != nil {
				free = false
				break
			}
			pc.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no free gossip port")
	return 0
}

func startNode(t *testing.T, name, host string, port int, seeds ...string) *Cluster {
	t.Helper()
	c, err := New(Config{
		NodeName:   name,
		GossipAddr: net.JoinHostPort(host, fmt.Sprint(port)),
		HTTPAddr:   host + ":8080",
		Join:       seeds,
		Timings:    FastTimings,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func servingNames(c *Cluster) []string {
	var out []string
	for _, m := range c.Members() {
		if m.State == StateServing {
			out = append(out, m.Name)
		}
	}
	return out
}

func sameView(nodes []*Cluster, want ...string) func() bool {
	return func() bool {
		for _, n := range nodes {
			if fmt.Sprint(servingNames(n)) != fmt.Sprint(want) {
				return false
			}
		}
		return true
	}
}

func TestClusterMembershipAndPlacement(t *testing.T) {
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	port := gossipPort(t, hosts...)
	seed := net.JoinHostPort(hosts[0], fmt.Sprint(port))
	a := startNode(t, "a", hosts[0], port)
	b := startNode(t, "b", hosts[1], port, seed)
	c := startNode(t, "c", hosts[2], port, seed)
	defer a.Leave(time.Second)
	defer b.Leave(time.Second)
	nodes := []*Cluster{a, b, c}
	waitFor(t, "three serving members everywhere", sameView(nodes, "a", "b", "c"))

	t.Run("every node places every conversation alike", func(t *testing.T) {
		for i := range 1000 {
			cid := fmt.Sprint("c", i)
			want, _ := a.Owner(cid)
			for _, n := range nodes[1:] {
				if got, _ := n.Owner(cid); got.Name != want.Name {
					t.Fatalf("%s: %s says %s, a says %s", cid, n.Self(), got.Name, want.Name)
				}
			}
			owners := 0
			for _, n := range nodes {
				if n.Owns(cid) {
					owners++
				}
			}
			if owners != 1 {
				t.Fatalf("%s has %d owners", cid, owners)
			}
		}
	})
	t.Run("metadata carries the HTTP address and state", func(t *testing.T) {
		for _, m := range a.Members() {
			if m.HTTPAddr == "" || m.State != StateServing || m.GossipAddr == "" {
				t.Fatalf("member %+v", m)
			}
		}
	})
	t.Run("a draining member owns nothing", func(t *testing.T) {
		if err := b.SetState(StateDraining); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "b draining everywhere", sameView(nodes, "a", "c"))
		for i := range 200 {
			if m, _ := a.Owner(fmt.Sprint("c", i)); m.Name == "b" {
				t.Fatal("a draining member still owns a conversation")
			}
		}
		if err := b.SetState(StateServing); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "b serving again", sameView(nodes, "a", "b", "c"))
	})
	t.Run("a failed member is dropped and a restarted one rejoins under its name", func(t *testing.T) {
		if err := c.Shutdown(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "c declared failed", sameView([]*Cluster{a, b}, "a", "b"))
		c2 := startNode(t, "c", hosts[2], port, seed)
		defer c2.Leave(time.Second)
		waitFor(t, "c back", sameView([]*Cluster{a, b, c2}, "a", "b", "c"))
		if n := len(a.Members()); n != 3 {
			t.Fatalf("a sees %d members, want 3 (one per node name)", n)
		}
	})
}

func TestClusterJoinRetriesUntilASeedAnswers(t *testing.T) {
	hosts := []string{"127.0.0.4", "127.0.0.5"}
	port := gossipPort(t, hosts...)
	seed := net.JoinHostPort(hosts[0], fmt.Sprint(port))
	late := startNode(t, "late", hosts[1], port, seed) // the seed is not up yet
	defer late.Leave(time.Second)
	time.Sleep(300 * time.Millisecond)
	if late.State() != StateJoining {
		t.Fatalf("state %s before any seed answered, want joining", late.State())
	}
	first := startNode(t, "first", hosts[0], port)
	defer first.Leave(time.Second)
	waitFor(t, "both serving", sameView([]*Cluster{first, late}, "first", "late"))
}
