package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// startDebug serves pprof on its own listener, apart from the API: off by
// default, and meant for an address only operators reach.
func (m *Main) startDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on --debug-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(ln, mux); err != nil {
			m.Logger.Debug("debug listener stopped", "err", err)
		}
	}()
	m.Logger.Info("pprof is served", "debug_addr", ln.Addr().String())
	return nil
}
