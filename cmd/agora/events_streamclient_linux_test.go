package main

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// streamClient reads BenchmarkStreams' streams with two epoll loops over
// raw sockets rather than a goroutine per connection: 10,000 streams then
// cost the client a read per batch the server writes, without a goroutine
// wake-up for each, so the client takes less of the cores it shares with
// the server. An arrival's time is taken right after its read returns.
type streamClient struct {
	readers []atomic.Pointer[streamReader]
	polls   [2]int
	opened  sync.WaitGroup
	done    atomic.Bool
	loops   sync.WaitGroup
}

// openStreams opens n streams of the conversation events path at addr and
// returns once each has received its first event.
func openStreams(tb testing.TB, addr, path string, n int) *streamClient {
	tb.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	c := &streamClient{readers: make([]atomic.Pointer[streamReader], n)}
	for i := range c.polls {
		if c.polls[i], err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
			tb.Fatal(err)
		}
		c.loops.Go(func() { c.loop(c.polls[i]) })
	}
	for i := range n {
		fd, first := dialStream(tb, ap, path, i)
		r := &streamReader{fd: fd}
		c.readers[i].Store(r)
		c.opened.Add(1)
		if r.feed(first, time.Now()) {
			c.opened.Done()
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			tb.Fatal(err)
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(c.polls[i%2], syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			tb.Fatal(err)
		}
	}
	c.opened.Wait()
	return c
}

// dialStream connects, sends the request and reads the status line,
// retrying while the conversation's admission control answers 429 to the
// crowd of subscribers arriving at once; it returns the socket and what
// was read.
func dialStream(tb testing.TB, ap netip.AddrPort, path string, i int) (int, []byte) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	for attempt := 0; ; attempt++ {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			tb.Fatalf("stream %d: %v", i, err)
		}
		if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
			tb.Fatalf("stream %d: %v", i, err)
		}
		if _, err := syscall.Write(fd, req); err != nil {
			tb.Fatalf("stream %d: %v", i, err)
		}
		buf := make([]byte, 4096)
		got := 0
		for got < len(buf) && !bytes.Contains(buf[:got], []byte("\r\n")) {
			m, err := syscall.Read(fd, buf[got:])
			if m <= 0 || err != nil {
				break
			}
			got += m
		}
		status, _, _ := bytes.Cut(buf[:got], []byte("\r\n"))
		if bytes.Contains(status, []byte(" 200 ")) {
			return fd, buf[:got]
		}
		syscall.Close(fd)
		if attempt > 100 {
			tb.Fatalf("stream %d: %q", i, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loop reads the streams of one epoll instance until close.
func (c *streamClient) loop(poll int) {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for !c.done.Load() {
		n, err := syscall.EpollWait(poll, events, 100)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range events[:n] {
			r := c.readers[ev.Fd].Load()
			for {
				m, err := syscall.Read(r.fd, buf)
				if m > 0 && r.feed(buf[:m], time.Now()) {
					c.opened.Done()
				}
				if err == syscall.EAGAIN || err == syscall.EINTR || (err == nil && m > 0 && m < len(buf)) {
					break // drained; epoll reports the rest
				}
				if err != nil || m == 0 {
					// The stream ended: forget it (level-triggered epoll
					// would report it forever).
					syscall.EpollCtl(poll, syscall.EPOLL_CTL_DEL, r.fd, nil)
					if !r.opened {
						r.opened = true
						c.opened.Done()
					}
					break
				}
			}
		}
	}
}

// close stops reading, closes the streams and returns what each received.
func (c *streamClient) close() [][]markerArrival {
	c.done.Store(true)
	c.loops.Wait()
	out := make([][]markerArrival, len(c.readers))
	for i := range c.readers {
		r := c.readers[i].Load()
		syscall.Close(r.fd)
		out[i] = r.arrivals
	}
	for _, p := range c.polls {
		syscall.Close(p)
	}
	return out
}
