package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	agorahttp "github.com/agora-dev/agora/http"
)

// nodeMetrics are the Prometheus metrics of one node. Counters and gauges
// that the components keep anyway are read at scrape time (GaugeFunc,
// CounterFunc): nothing on the write path pays for them. The histograms
// are fed by hooks of the batcher and the math pool.
type nodeMetrics struct {
	registry  *prometheus.Registry
	flush     prometheus.Histogram
	batchSize prometheus.Histogram
	math      *prometheus.HistogramVec
	http      *agorahttp.Metrics
}

func newNodeMetrics() *nodeMetrics {
	reg := prometheus.NewRegistry()
	nm := &nodeMetrics{
		registry: reg,
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agora_store_commit_duration_seconds",
			Help:    "Time the store took to commit one batch of events (group commit).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "agora_store_commit_events",
			Help:    "Events committed per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		math: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agora_math_run_duration_seconds",
			Help:    "Time one run of the Polis math took, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"outcome"}),
	}
	reg.MustRegister(nm.flush, nm.batchSize, nm.math,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nm.http = agorahttp.NewMetrics(reg, reg)
	return nm
}

func (nm *nodeMetrics) observeCommit(events int, took time.Duration) {
	nm.flush.Observe(took.Seconds())
	nm.batchSize.Observe(float64(events))
}

func (nm *nodeMetrics) observeMath(took time.Duration, ok bool) {
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	nm.math.WithLabelValues(outcome).Observe(took.Seconds())
}

// register adds the metrics read from the running components.
func (nm *nodeMetrics) register(m *Main) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	nm.registry.MustRegister(
		gauge("agora_actors_live", "Conversation actors active on this node.", func() float64 { return float64(m.Manager.Stats().Live) }),
		gauge("agora_actor_inflight_commands", "Commands waiting for a conversation actor (the inboxes).", func() float64 { return float64(m.Manager.Stats().Inflight) }),
		gauge("agora_actor_pending_writes", "Writes applied by actors and not yet committed.", func() float64 { return float64(m.Manager.Stats().Pending) }),
		gauge("agora_batcher_pending_events", "Events appended and not yet committed on this node.", func() float64 { return float64(m.Batcher.Stats().Pending) }),
		counter("agora_store_commits_total", "Transactions the batcher committed.", func() float64 { return float64(m.Batcher.Stats().Flushes) }),
		counter("agora_store_events_total", "Events the batcher committed.", func() float64 { return float64(m.Batcher.Stats().Events) }),
		counter("agora_store_errors_total", "Failed commit attempts (each is retried or isolated).", func() float64 { return float64(m.Batcher.Stats().StoreErrors) }),
		gauge("agora_math_queue", "Analyses waiting for a math worker.", func() float64 { return float64(m.Manager.Stats().MathQueue) }),
		counter("agora_dead_letters_total", "Messages that reached a stopped actor (hollywood dead letters).", func() float64 { return float64(m.Manager.Stats().DeadLetters) }),
	)
	if m.Cluster != nil {
		states := []string{"joining", "serving", "draining"}
		for _, st := range states {
			nm.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "agora_cluster_members",
				Help:        "Cluster members this node knows, by state.",
				ConstLabels: prometheus.Labels{"state": st},
			}, func() float64 {
				n := 0
				for _, mem := range m.Cluster.Members() {
					if string(mem.State) == st {
						n++
					}
				}
				return float64(n)
			}))
		}
	}
}
