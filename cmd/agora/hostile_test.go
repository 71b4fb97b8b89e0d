package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawRequest writes bytes on a fresh connection and returns the status of
// the answer, or 0 when the server closed the connection without one.
func rawRequest(t *testing.T, addr string, payload []byte) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Errorf("dial: %v", err)
		return -1
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(payload)
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestHostileRequests sends thousands of malformed and hostile requests
// (random bytes, deep and huge JSON, invalid UTF-8, wrong methods, path
// traversal in ids, enormous headers, slow bodies): every answer is a 4xx,
// the server stays up, and the data is unchanged.
func TestHostileRequests(t *testing.T) {
	ts := MustOpenServer(t)
	addr := ts.HTTP.Addr()
	_, author := ts.newParticipant(t)
	conv := ts.createConversation(t, author, map[string]any{"title": "target", "seed_opinions": []string{"one", "two"}})
	ops := ts.opinions(t, "", conv.ID, "new")
	ts.vote(t, author, conv.ID, ops[0].ID, "agree")
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{convPath(conv.ID), opinionsPath(conv.ID) + "?limit=100", opinionsPath(conv.ID) + "?sort=moderated", myVotesPath(conv.ID)} {
			r := ts.do(t, "GET", p, author, nil)
			b.Write(r.Body)
		}
		return b.String()
	}
	before := snapshot()
	// Every route that takes a body needs one (participant creation, whose
	// body is optional, accepts any JSON object and is left out).
	paths := []string{"/v1/conversations", convPath(conv.ID), opinionsPath(conv.ID),
		opinionPath(conv.ID, ops[0].ID), votePath(conv.ID, ops[0].ID), convPath(conv.ID) + "/lock",
		opinionPath(conv.ID, ops[0].ID) + "/moderation", "/admin/participants/x/role"}
	rng := rand.New(rand.NewPCG(1, 2))

	var mu sync.Mutex
	bad := map[string]int{}
	check := func(kind string, status int) {
		if status >= 500 || (status > 0 && status < 400) {
			mu.Lock()
			bad[fmt.Sprintf("%s -> %d", kind, status)]++
			mu.Unlock()
		}
	}
	send := func(kind, method, path, token, contentType string, body []byte) {
		var req bytes.Buffer
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method, path)
		if token != "" {
			fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", token)
		}
		if contentType != "" {
			fmt.Fprintf(&req, "Content-Type: %s\r\n", contentType)
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", len(body))
		req.Write(body)
		check(kind, rawRequest(t, addr, req.Bytes()))
	}

	bodies := [][]byte{
		[]byte(strings.Repeat("[", 100000)),
		[]byte(`{"title": "` + strings.Repeat("x", 60000) + `"}`),
		[]byte(strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)),
		{'{', '"', 't', 'e', 'x', 't', '"', ':', '"', 0xff, 0xfe, '"', '}'},
		[]byte(`{"text": "\ud800"}`), []byte(`{"vote": "\udc00x", "title": "\udc00"}`), []byte(`null`),
		[]byte(`[]`), []byte(`"string"`), []byte(`{"vote": ["agree"], "title": 5, "text": 5, "reason": 5, "role": 5, "display_name": 5}`),
		[]byte(`{"reason": "spam", "explanation": ` + strings.Repeat(`"`, 3) + `}`), []byte("\x00\x01\x02"),
		[]byte(`{"title": "x", `), []byte(`{"title": "x"}}`), []byte(`{'title': 'x'}`),
	}
	ids := []string{"..", "../../etc/passwd", "%2e%2e%2f", "..%2F..%2F", strings.Repeat("a", 65), "a%00b", "%ff%fe",
		"a b", "<script>", "a;DROP TABLE votes", "%C0%AE%C0%AE", "~", "*", "a/../" + conv.ID}

	var wg sync.WaitGroup
	work := make(chan func(), 256)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				f()
			}
		}()
	}
	// Random bytes, with and without a request line.
	for i := range 600 {
		n := 1 + rng.IntN(2048)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if i%2 == 0 {
			b = append([]byte("POST /v1/conversations HTTP/1.1\r\n"), b...)
		}
		work <- func() { check("random bytes", rawRequest(t, addr, b)) }
	}
	// Malformed bodies on every writing route, with and without tokens.
	for _, p := range paths {
		for _, b := range bodies {
			for _, method := range []string{"POST", "PUT"} {
				work <- func() { send("body on "+p, method, p, author, "application/json", b) }
				work <- func() { send("body as admin on "+p, method, p, testAdminToken, "application/json", b) }
				work <- func() { send("text/plain body on "+p, method, p, author, "text/plain", b) }
			}
		}
	}
	// Wrong methods everywhere.
	for _, p := range paths {
		for _, method := range []string{"PATCH", "TRACE", "CONNECT", "FOO", "PROPFIND"} {
			work <- func() { send(method+" "+p, method, p, author, "", nil) }
		}
	}
	// Hostile ids in every position.
	for _, id := range ids {
		for _, tmpl := range []string{"/v1/conversations/%s", "/v1/conversations/%s/opinions", "/v1/conversations/" + conv.ID + "/opinions/%s/vote",
			"/v1/conversations/%s/analysis", "/admin/conversations/%s/state", "/admin/participants/%s/role"} {
			p := fmt.Sprintf(tmpl, id)
			for _, method := range []string{"GET", "PUT", "DELETE"} {
				work <- func() {
					send("id "+p, method, p, author, "application/json", []byte(`{"vote":"agree","role":"moderator"}`))
				}
			}
		}
	}
	// Bad tokens and enormous headers.
	for i := range 50 {
		token := strings.Repeat("t", 1+rng.IntN(20000))
		work <- func() { send("long token", "GET", "/v1/participants/me", token, "", nil) }
		header := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("h", 17000+i))
		work <- func() { check("enormous header", rawRequest(t, addr, []byte(header))) }
	}
	// Slow bodies: connections that promise a body and stall must not stop
	// anyone else.
	var slow []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"title\":", author)
		slow = append(slow, c)
	}
	close(work)
	wg.Wait()
	if r := ts.do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz while slow bodies stall: %d", r.Status)
	}
	for _, c := range slow {
		c.Close()
	}
	for k, n := range bad {
		t.Errorf("%d × %s", n, k)
	}
	if after := snapshot(); after != before {
		t.Fatalf("the data changed:\nbefore %s\nafter  %s", before, after)
	}
}
