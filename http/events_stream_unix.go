//go:build unix

package http

import (
	"net"
	"syscall"
)

// rawConn returns the connection's raw access, for non-blocking writes
// (the events handler hands the stream fasthttp's TCP connection itself,
// not its hijack wrapper).
func rawConn(conn net.Conn) syscall.RawConn {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			return raw
		}
	}
	return nil
}

// tryWrite makes one non-blocking write attempt; a full socket buffer is
// not an error (fewer bytes are written).
func (st *sseStream) tryWrite(b []byte) (int, error) {
	var n int
	var werr error
	err := st.raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true // never wait for the socket: the goroutine does that
	})
	n = max(n, 0)
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		werr = nil
	}
	if err != nil {
		return n, err
	}
	return n, werr
}
