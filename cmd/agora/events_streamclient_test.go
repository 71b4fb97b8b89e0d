package main

import (
	"bytes"
	"time"
)

// streamReader follows one live-update stream for BenchmarkStreams: it
// scans the lines as they arrive and keeps when each marker opinion came.
// Lines are read without a JSON decoder or an allocation per event, so the
// client's cost per event stays small beside the server's.
type streamReader struct {
	fd       int
	partial  []byte // the start of a line whose end has not arrived
	opened   bool   // the stream's first event (the counters snapshot) arrived
	arrivals []markerArrival
}

// markerArrival is when a stream received a marker opinion.
type markerArrival struct {
	id string
	at time.Time
}

var (
	countersLine = []byte("event: counters")
	opinionData  = []byte(`data: {"id":"`)
	markerText   = []byte(`"text":"marker `)
)

// feed scans data, read at now; it reports whether the stream's first
// event arrived in it.
func (r *streamReader) feed(data []byte, now time.Time) (openedNow bool) {
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			r.partial = append(r.partial, data...)
			return openedNow
		}
		line := data[:end]
		if len(r.partial) > 0 {
			r.partial = append(r.partial, line...)
			line = r.partial
		}
		data = data[end+1:]
		if !r.opened && bytes.HasPrefix(line, countersLine) {
			r.opened, openedNow = true, true
		}
		// Opinion events start with their id; only the markers are kept,
		// the scenario's opinions would cost the client memory for
		// nothing.
		if rest, ok := bytes.CutPrefix(line, opinionData); ok && bytes.Contains(rest, markerText) {
			if end := bytes.IndexByte(rest, '"'); end > 0 {
				r.arrivals = append(r.arrivals, markerArrival{string(rest[:end]), now})
			}
		}
		r.partial = r.partial[:0]
	}
	return openedNow
}
