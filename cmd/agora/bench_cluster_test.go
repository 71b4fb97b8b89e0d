package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora/persist/postgres"
	"github.com/agora-dev/agora/persist/postgres/pgtest"
)

// BenchmarkForwardedRead measures what forwarding adds to a request: two
// in-process nodes on their own loopback addresses share one PostgreSQL;
// the same conversation is read from its owner (direct) and from the other
// node (forwarded to the owner and relayed back). It reports p50 and p99.
func BenchmarkForwardedRead(b *testing.B) {
	db := pgtest.NewDatabase(b)
	if _, err := postgres.Migrate(context.Background(), db.URL); err != nil {
		b.Fatal(err)
	}
	base := 100 + rand.IntN(100)
	port := 20000 + rand.IntN(20000)
	var nodes []*Main
	for i := range 2 {
		host := fmt.Sprintf("127.0.3.%d", base+i)
		m := NewMain()
		m.Config.HTTPAddr = net.JoinHostPort(host, "0")
		m.Config.GossipAddr = net.JoinHostPort(host, fmt.Sprint(port))
		m.Config.Join = net.JoinHostPort(fmt.Sprintf("127.0.3.%d", base), fmt.Sprint(port))
		m.Config.NodeName = fmt.Sprint("bench", i)
		m.Config.Postgres = db.URL
		m.Config.AdminToken = "bench-admin"
		m.Config.RateLimit = 0
		m.Config.GossipTestTimings = true
		m.Config.DrainWait = time.Millisecond
		m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if err := m.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer m.Close(context.Background())
		nodes = append(nodes, m)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ready := true
		for _, m := range nodes {
			serving := 0
			for _, mem := range m.Cluster.Members() {
				if mem.State == "serving" {
					serving++
				}
			}
			ready = ready && serving == 2
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the two nodes did not join")
		}
		time.Sleep(10 * time.Millisecond)
	}
	servers := []*benchServer{
		{tb: b, m: nodes[0], hc: &fasthttp.HostClient{Addr: nodes[0].HTTP.Addr()}},
		{tb: b, m: nodes[1], hc: &fasthttp.HostClient{Addr: nodes[1].HTTP.Addr()}},
	}
	code, body := servers[0].do("POST", "/v1/conversations", servers[0].participant(), map[string]any{"title": "forwarded"})
	var conv struct{ ID string }
	json.Unmarshal(body, &conv)
	if code != 201 || !nodes[0].Cluster.Owns(conv.ID) {
		b.Fatalf("create: %d %s (owned here: %v)", code, body, nodes[0].Cluster.Owns(conv.ID))
	}
	for i, name := range []string{"direct", "forwarded"} {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				t0 := time.Now()
				if code, body := servers[i].do("GET", "/v1/conversations/"+conv.ID, "", nil); code != 200 {
					b.Fatalf("%d %s", code, body)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
