//go:build !linux

package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamClient reads BenchmarkStreams' streams with a goroutine per
// connection (Linux uses epoll instead).
type streamClient struct {
	readers []*streamReader
	conns   []net.Conn
	read    sync.WaitGroup
}

// openStreams opens n streams of the conversation events path at addr and
// returns once each has received its first event.
func openStreams(tb testing.TB, addr, path string, n int) *streamClient {
	tb.Helper()
	c := &streamClient{}
	var opened sync.WaitGroup
	for i := range n {
		conn := dialStreamConn(tb, addr, path, i)
		r := &streamReader{}
		c.readers, c.conns = append(c.readers, r), append(c.conns, conn)
		opened.Add(1)
		c.read.Go(func() {
			buf := make([]byte, 16<<10)
			for {
				m, err := conn.Read(buf)
				if m > 0 && r.feed(buf[:m], time.Now()) {
					opened.Done()
				}
				if err != nil {
					if !r.opened {
						r.opened = true
						opened.Done()
					}
					return
				}
			}
		})
	}
	opened.Wait()
	return c
}

// dialStreamConn connects and sends the request, retrying while the
// conversation's admission control answers 429.
func dialStreamConn(tb testing.TB, addr, path string, i int) net.Conn {
	for attempt := 0; ; attempt++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatalf("stream %d: %v", i, err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		status := make([]byte, len("HTTP/1.1 200 "))
		if _, err := io.ReadFull(conn, status); err == nil && strings.Contains(string(status), " 200 ") {
			return conn
		}
		conn.Close()
		if attempt > 100 {
			tb.Fatalf("stream %d: %q", i, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// close stops reading, closes the streams and returns what each received.
func (c *streamClient) close() [][]markerArrival {
	for _, conn := range c.conns {
		conn.Close()
	}
	c.read.Wait()
	out := make([][]markerArrival, len(c.readers))
	for i, r := range c.readers {
		out[i] = r.arrivals
	}
	return out
}
