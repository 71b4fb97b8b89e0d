//go:build !unix

package http

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: without non-blocking writes every write of a
// stream goes through its goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (st *sseStream) tryWrite([]byte) (int, error) {
	return 0, errors.ErrUnsupported
}
