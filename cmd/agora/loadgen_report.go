package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// loadgenReport is the result of a run: the shape of api.md ("The loadgen
// report"), with a few more fields after it.
type loadgenReport struct {
	Mode           string              `json:"mode"`
	DurationS      float64             `json:"duration_s"`
	VUsMax         int                 `json:"vus_max"`
	Operations     map[string]opReport `json:"operations"`
	ErrorsByStatus map[string]int64    `json:"errors_by_status"`
	CapacityVUs    *int                `json:"capacity_vus,omitempty"`
	VotesPerSecond *float64            `json:"votes_per_second,omitempty"`
	Verification   lgVerification      `json:"verification"`

	Server         string `json:"server"`
	ConversationID string `json:"conversation_id"`
	Seed           uint64 `json:"seed"`
	// SLOP99MS and Steps are capacity mode's SLO and steps.
	SLOP99MS *float64     `json:"slo_p99_ms,omitempty"`
	Steps    []stepReport `json:"steps,omitempty"`
	// VUsTimeline is the VU (or client) count sampled every EveryS seconds
	// from the start.
	VUsTimeline *vusTimeline `json:"vus_timeline,omitempty"`
}

// opReport are the figures of one operation. Latencies come from a
// log-linear histogram (within 0.4%); Max is exact.
type opReport struct {
	Count     int64   `json:"count"`
	Errors    int64   `json:"errors"`
	P50MS     float64 `json:"p50_ms"`
	P90MS     float64 `json:"p90_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
	PerSecond float64 `json:"per_second"`
}

// stepReport is one step of capacity mode.
type stepReport struct {
	VUs                int     `json:"vus"`
	Votes              int64   `json:"votes"`
	VoteP99MS          float64 `json:"vote_p99_ms"`
	Opinions           int64   `json:"opinions"`
	CreateOpinionP99MS float64 `json:"create_opinion_p99_ms"`
	Errors             int64   `json:"errors"`
	Held               bool    `json:"held"`
}

type vusTimeline struct {
	EveryS float64 `json:"every_s"`
	VUs    []int   `json:"vus"`
}

// print writes the report for people.
func (r *loadgenReport) print(w io.Writer) {
	fmt.Fprintf(w, "agora loadgen: %s mode, %.1f s, up to %d %s, conversation %s at %s (seed %d)\n\n",
		r.Mode, r.DurationS, r.VUsMax, map[bool]string{true: "clients", false: "VUs"}[r.Mode == "throughput"],
		r.ConversationID, r.Server, r.Seed)
	fmt.Fprintf(w, "%-20s %9s %7s %9s %9s %9s %9s %9s\n", "operation", "count", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "per s")
	for _, name := range operationNames {
		o := r.Operations[name]
		fmt.Fprintf(w, "%-20s %9d %7d %9.2f %9.2f %9.2f %9.2f %9.1f\n", name, o.Count, o.Errors, o.P50MS, o.P90MS, o.P99MS, o.MaxMS, o.PerSecond)
	}

	errs := "none"
	if len(r.ErrorsByStatus) > 0 {
		keys := slices.Sorted(maps.Keys(r.ErrorsByStatus))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, r.ErrorsByStatus[k])
		}
		errs = strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "\nerrors by status: %s\n", errs)
	if r.ErrorsByStatus["429"] > 0 {
		fmt.Fprintln(w, "  (429: the server limits writes per participant and per conversation; a throughput run wants `agora serve --rate-limit 0`)")
	}
	if r.VUsTimeline != nil {
		counts := make([]string, len(r.VUsTimeline.VUs))
		for i, n := range r.VUsTimeline.VUs {
			counts[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(w, "VUs every %.0f s: %s\n", r.VUsTimeline.EveryS, strings.Join(counts, " "))
	}

	if len(r.Steps) > 0 {
		fmt.Fprintf(w, "\n%6s %9s %12s %9s %22s %7s  %s\n", "VUs", "votes", "vote p99 ms", "opinions", "create_opinion p99 ms", "errors", "SLO")
		for _, s := range r.Steps {
			fmt.Fprintf(w, "%6d %9d %12.2f %9d %22.2f %7d  %s\n", s.VUs, s.Votes, s.VoteP99MS, s.Opinions, s.CreateOpinionP99MS, s.Errors,
				map[bool]string{true: "held", false: "failed"}[s.Held])
		}
	}
	if r.CapacityVUs != nil {
		fmt.Fprintf(w, "capacity: %d VUs (the most that kept the p99 of votes and opinion creation at or below %.1f ms with no error)\n",
			*r.CapacityVUs, *r.SLOP99MS)
	}
	if r.VotesPerSecond != nil {
		fmt.Fprintf(w, "throughput: %.1f durable votes per second\n", *r.VotesPerSecond)
	}

	verdict := "OK"
	if !r.Verification.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "\nverification %s: %s\n", verdict, r.Verification.Detail)
}
