package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStreams opens AGORA_BENCH_STREAMS (default 10,000) live-update
// streams on one conversation of a real `agora serve` process, runs the
// load generator's scenario (200 VUs) on the same conversation, and
// measures the delay from the acknowledgment of an opinion to its delivery
// on every stream, the server's memory per stream, and the vote latency
// the load generator sees. Run it alone: -bench Streams -benchtime 1x.
func BenchmarkStreams(b *testing.B) {
	streams := 10_000
	if v, err := strconv.Atoi(os.Getenv("AGORA_BENCH_STREAMS")); err == nil {
		streams = v
	}
	bin, err := buildAgora()
	if err != nil {
		b.Fatal(err)
	}
	p := &serverProcess{bin: bin, dataDir: b.TempDir(), addr: freeAddr(b), adminToken: "streams-admin"}
	startProcess(b, p)
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	base := "http://" + p.addr
	client := &http.Client{Timeout: 30 * time.Second}
	var tok map[string]string
	call(client, "POST", base+"/v1/participants", "", nil, &tok)
	var conv struct{ ID string }
	call(client, "POST", base+"/v1/conversations", tok["token"], map[string]any{"title": "streams", "seed_opinions": []string{"a", "b", "c"}}, &conv)
	metric := func(name string) float64 {
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
		return 0
	}
	rssBefore, heapBefore := metric("process_resident_memory_bytes"), metric("go_memstats_heap_inuse_bytes")

	// received[opinion id] = when each stream saw it.
	var mu sync.Mutex
	received := map[string][]time.Time{}
	var opened sync.WaitGroup
	var conns []net.Conn
	// open dials one stream, retrying while the conversation's admission
	// control answers 429 to the crowd of subscribers arriving at once.
	open := func() (net.Conn, *bufio.Reader) {
		for attempt := 0; ; attempt++ {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				b.Fatalf("stream %d: %v", len(conns), err)
			}
			fmt.Fprintf(c, "GET /v1/conversations/%s/events HTTP/1.1\r\nHost: x\r\n\r\n", conv.ID)
			r := bufio.NewReader(c)
			status, err := r.ReadString('\n')
			if err == nil && strings.Contains(status, " 200 ") {
				return c, r
			}
			c.Close()
			if attempt > 100 {
				b.Fatalf("stream %d: %q %v", len(conns), status, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range streams {
		c, r := open()
		conns = append(conns, c)
		opened.Add(1)
		go func() {
			first := true
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					if first {
						opened.Done()
					}
					return
				}
				if first && bytes.HasPrefix(line, []byte("event: counters")) {
					first = false
					opened.Done()
				}
				// Opinion events start with their id; reading it without a
				// JSON decoder keeps the client's cost per event small.
				if rest, ok := bytes.CutPrefix(line, []byte(`data: {"id":"`)); ok {
					now := time.Now()
					if end := bytes.IndexByte(rest, '"'); end > 0 {
						id := string(rest[:end])
						mu.Lock()
						received[id] = append(received[id], now)
						mu.Unlock()
					}
				}
			}
		}()
	}
	opened.Wait()
	time.Sleep(time.Second)
	rssOpen, heapOpen := metric("process_resident_memory_bytes"), metric("go_memstats_heap_inuse_bytes")

	// The load generator's scenario on the same conversation, and marker
	// opinions whose acknowledgment times are known.
	lg := exec.Command(bin, "loadgen", "--server", base, "--conversation", conv.ID, "--vus", "200", "--duration", "30s", "--json", b.TempDir()+"/lg.json")
	var lgOut bytes.Buffer
	lg.Stdout = &lgOut
	if err := lg.Start(); err != nil {
		b.Fatal(err)
	}
	acked := map[string]time.Time{}
	for i := range 100 {
		var o struct{ ID string }
		if code, err := call(client, "POST", base+"/v1/conversations/"+conv.ID+"/opinions", tok["token"], map[string]string{"text": fmt.Sprint("marker ", i)}, &o); err != nil || code != 201 {
			b.Fatalf("marker: %d %v", code, err)
		}
		acked[o.ID] = time.Now()
		time.Sleep(250 * time.Millisecond)
	}
	lg.Wait()
	time.Sleep(2 * time.Second)
	rssLoad := metric("process_resident_memory_bytes")
	for _, c := range conns {
		c.Close()
	}
	var delays []time.Duration
	missing := 0
	mu.Lock()
	for id, at := range acked {
		got := received[id]
		missing += streams - len(got)
		for _, t := range got {
			delays = append(delays, max(0, t.Sub(at)))
		}
	}
	mu.Unlock()
	slices.Sort(delays)
	if len(delays) == 0 {
		b.Fatal("no marker delivered")
	}
	q := func(f float64) float64 { return float64(delays[int(f*float64(len(delays)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(streams), "streams")
	b.ReportMetric(q(0.5), "delivery-p50-ms")
	b.ReportMetric(q(0.99), "delivery-p99-ms")
	b.ReportMetric(q(1), "delivery-max-ms")
	b.ReportMetric(float64(missing), "undelivered")
	b.ReportMetric((rssOpen-rssBefore)/float64(streams), "rss-B/stream")
	b.ReportMetric((heapOpen-heapBefore)/float64(streams), "heap-B/stream")
	b.ReportMetric(rssLoad/1e6, "rss-MB-under-load")
	b.Logf("load generator:\n%s", lgOut.String())
}
