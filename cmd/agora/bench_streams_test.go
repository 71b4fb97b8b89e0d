package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStreams opens AGORA_BENCH_STREAMS (default 10,000) live-update
// streams on one conversation of a real `agora serve` process, runs the
// load generator's scenario (200 VUs) on the same conversation, and
// measures the delay from the acknowledgment of an opinion to its delivery
// on every stream, the server's memory per stream, and the vote latency
// the load generator sees. The streams' client runs in this process on the
// same cores (see streamClient: it is kept lean so that it measures the
// server more than itself). Run it alone: -bench Streams -benchtime 1x.
// AGORA_BENCH_CPUPROFILE=FILE writes a 15 s CPU profile of the server,
// taken while the scenario runs.
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
	profile := os.Getenv("AGORA_BENCH_CPUPROFILE")
	debugAddr := ""
	if profile != "" {
		debugAddr = freeAddr(b)
		p.extraArgs = []string{"--debug-addr", debugAddr}
	}
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

	readers := openStreams(b, p.addr, "/v1/conversations/"+conv.ID+"/events", streams)
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
	profiled := make(chan error, 1)
	if profile != "" {
		go func() {
			time.Sleep(5 * time.Second)
			profiled <- fetchProfile("http://"+debugAddr+"/debug/pprof/profile?seconds=15", profile)
		}()
	} else {
		profiled <- nil
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
	if err := <-profiled; err != nil {
		b.Errorf("server profile: %v", err)
	}
	time.Sleep(2 * time.Second)
	rssLoad := metric("process_resident_memory_bytes")
	received := map[string][]time.Time{}
	for _, as := range readers.close() {
		for _, a := range as {
			received[a.id] = append(received[a.id], a.at)
		}
	}
	var delays []time.Duration
	missing := 0
	for id, at := range acked {
		got := received[id]
		missing += streams - len(got)
		for _, t := range got {
			delays = append(delays, max(0, t.Sub(at)))
		}
	}
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

// fetchProfile saves the profile served at url in file.
func fetchProfile(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
