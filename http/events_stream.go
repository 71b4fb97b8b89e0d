package http

import (
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/agora-dev/agora/actors"
)

// sseStream is one live-update stream on its hijacked connection. Two
// parties write to it, one at a time (mu):
//
//   - the hub's goroutines, through notify at each wake-up, which take
//     everything pending and try one non-blocking write of it;
//   - the stream's own goroutine, which takes over with blocking writes
//     when the connection's buffer is full (the client reads slowly), and
//     sends the head, the backlog, the heartbeats and the end.
//
// Under a steady flow of events the stream's goroutine stays parked: a hub
// with 10,000 streams makes 10,000 calls and writes per wake-up, not
// 10,000 goroutine wake-ups.
type sseStream struct {
	sub     *actors.Subscription
	conn    net.Conn
	raw     syscall.RawConn // for notify's writes; nil without one: every write goes through the goroutine
	chunked bool            // false for HTTP/1.0: the stream ends with the connection
	kick    chan struct{}   // wakes the stream's goroutine; one slot, a kick is never lost

	mu      sync.Mutex
	pending []byte // framed bytes notify could not write: only the goroutine writes while any
	ended   bool   // the subscription ended: the goroutine sends what is left and the end
	err     error  // a write failed: the goroutine lets the connection go
	closed  bool   // the goroutine returned: the connection is no longer ours
}

// chunkRoom is the room kept before a batch's frames for its chunk-size
// line (up to 8 hex digits and CRLF), so a batch is framed without a copy.
const chunkRoom = 10

// batches lends the buffers batches are built in: a stream holds one only
// while it writes, not while it waits, which is nearly always.
var batches = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledBatch keeps the rare large batch (a long backlog) out of the
// pool.
const maxPooledBatch = 64 << 10

func newSSEStream(sub *actors.Subscription, conn net.Conn, chunked bool) *sseStream {
	st := &sseStream{sub: sub, conn: conn, chunked: chunked, kick: make(chan struct{}, 1)}
	st.raw = rawConn(conn)
	return st
}

// run sends the head and the backlog, registers with the hub, then serves
// the kicks, the heartbeats and the server's stop until the stream ends.
// The connection closes when it returns.
func (st *sseStream) run(head []byte, stop <-chan struct{}) {
	defer st.close()
	// A blocking write's deadline is set here and pushed back at each
	// heartbeat rather than before each write (a timer update per write):
	// a write has between one and two heartbeats, long enough for a slow
	// reader and short enough to let go of a stalled one. The server's
	// write timeout bounds a whole response, which a stream never
	// finishes.
	st.conn.SetWriteDeadline(time.Now().Add(2 * heartbeat))
	buf, b := borrow()
	for _, e := range st.sub.Backlog {
		b = append(b, e.Frame...)
	}
	b, start := st.frame(b)
	_, err := st.conn.Write(append(head, b[start:]...))
	giveBack(buf, b)
	if err != nil {
		return
	}
	st.sub.Notify(st.notify)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for st.catchUp(false) {
		select {
		case <-st.kick:
		case <-tick.C:
			st.conn.SetWriteDeadline(time.Now().Add(2 * heartbeat))
			if !st.catchUp(true) {
				return
			}
		case <-stop:
			st.mu.Lock()
			st.end()
			st.mu.Unlock()
			return
		}
	}
}

// notify is the hub's call when events may be ready: it takes them and
// tries one non-blocking write; what it cannot do it leaves to the
// stream's goroutine. It never blocks.
func (st *sseStream) notify() {
	if !st.mu.TryLock() {
		st.wake() // the goroutine is writing: it looks again when done
		return
	}
	defer st.mu.Unlock()
	if st.closed || st.ended || st.err != nil {
		return
	}
	if st.raw == nil || len(st.pending) > 0 {
		st.wake()
		return
	}
	for {
		buf, b := borrow()
		b, ok := st.sub.Next(b)
		if !ok {
			giveBack(buf, b)
			st.ended = true
			st.wake()
			return
		}
		if len(b) == chunkRoom {
			giveBack(buf, b)
			return
		}
		b, start := st.frame(b)
		out := b[start:]
		written, err := st.tryWrite(out)
		if err == nil && written < len(out) {
			st.pending = append(st.pending, out[written:]...)
		}
		giveBack(buf, b)
		if err != nil || len(st.pending) > 0 {
			st.err = err
			st.wake()
			return
		}
	}
}

// catchUp writes, blocking, what notify left and then everything the
// subscription has until it has nothing more, then a comment line when
// heartbeat is set; it reports false when the stream is over (the end is
// sent if the connection still works). Only the stream's goroutine calls
// it.
func (st *sseStream) catchUp(heartbeat bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for st.err == nil {
		if len(st.pending) > 0 {
			_, st.err = st.conn.Write(st.pending)
			st.pending = nil
			continue
		}
		if st.ended {
			st.end()
			return false
		}
		buf, b := borrow()
		b, ok := st.sub.Next(b)
		if heartbeat && len(b) == chunkRoom {
			b = append(b, ":\n\n"...)
		}
		heartbeat = false
		if len(b) > chunkRoom {
			var start int
			b, start = st.frame(b)
			_, st.err = st.conn.Write(b[start:])
		}
		giveBack(buf, b)
		if !ok {
			st.ended = true
			continue
		}
		if len(b) == chunkRoom {
			return true
		}
	}
	return false
}

// end sends the last chunk; st.mu held. After a chunk written in part
// (the server stops while the client reads slowly) the connection just
// closes: the client sees a cut stream and resumes.
func (st *sseStream) end() {
	st.ended = true
	if st.chunked && st.err == nil && len(st.pending) == 0 {
		st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, st.err = st.conn.Write([]byte("0\r\n\r\n"))
	}
}

func (st *sseStream) wake() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// close lets the connection go: notify calls still underway leave it
// alone.
func (st *sseStream) close() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.sub.Close()
}

// frame turns a batch built after chunkRoom bytes of room into one chunk;
// it returns the batch and where the bytes to write start.
func (st *sseStream) frame(b []byte) ([]byte, int) {
	if !st.chunked {
		return b, chunkRoom
	}
	var line [chunkRoom]byte
	size := append(strconv.AppendUint(line[:0], uint64(len(b)-chunkRoom), 16), "\r\n"...)
	start := chunkRoom - len(size)
	copy(b[start:], size)
	return append(b, "\r\n"...), start
}

// borrow takes a buffer from the pool and returns it with an empty batch.
func borrow() (*[]byte, []byte) {
	buf := batches.Get().(*[]byte)
	return buf, append((*buf)[:0], make([]byte, chunkRoom)...)
}

// giveBack returns a buffer to the pool with b, what it grew into.
func giveBack(buf *[]byte, b []byte) {
	if cap(b) <= maxPooledBatch {
		*buf = b[:0]
		batches.Put(buf)
	}
}
