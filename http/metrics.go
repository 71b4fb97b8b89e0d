package http

import (
	"strconv"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/agora-dev/agora"
)

// Metrics are the HTTP layer's Prometheus metrics. Routes are labelled by
// their template (/v1/conversations/{cid}), never by the ids in a path, so
// the label set stays bounded.
type Metrics struct {
	requests  *prometheus.HistogramVec
	forwarded *prometheus.CounterVec
	handler   fasthttp.RequestHandler
}

// NewMetrics registers the HTTP metrics on reg and serves everything
// gatherer gathers at /metrics.
func NewMetrics(reg prometheus.Registerer, gatherer prometheus.Gatherer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "agora_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template, method and status.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_forwarded_requests_total",
			Help: "Requests forwarded to the node that owns their conversation, by outcome.",
		}, []string{"outcome"}),
		handler: fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})),
	}
	reg.MustRegister(m.requests, m.forwarded)
	return m
}

// requestIDHeader carries the request id in both directions.
const requestIDHeader = "X-Request-Id"

// instrument wraps the router: every request gets a request id (the
// client's X-Request-Id when it is a sane one, else a new one), echoed in
// the response, and is timed by route template.
func (s *Server) instrument(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		id := ctx.Request.Header.Peek(requestIDHeader)
		if !agora.ValidID(string(id)) {
			id = []byte(agora.NewID(16))
		}
		ctx.SetUserValue(requestIDHeader, string(id))
		ctx.Response.Header.SetBytesV(requestIDHeader, id)
		if !s.cors(ctx) {
			next(ctx)
		}
		if s.cfg.Metrics == nil {
			return
		}
		route, _ := ctx.UserValue(router.MatchedRoutePathParam).(string)
		if route == "" {
			route = "unmatched"
		}
		s.cfg.Metrics.requests.WithLabelValues(route, methodLabel(ctx.Method()), statusLabel(ctx.Response.StatusCode())).
			Observe(time.Since(start).Seconds())
	}
}

// requestID returns the id instrument gave the request.
func requestID(ctx *fasthttp.RequestCtx) string {
	id, _ := ctx.UserValue(requestIDHeader).(string)
	return id
}

func (s *Server) metrics(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	if s.cfg.Metrics == nil {
		return agora.Errorf(agora.ENOTFOUND, "Metrics are not enabled.")
	}
	s.cfg.Metrics.handler(ctx)
	return nil
}

func (s *Server) countForward(outcome string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.forwarded.WithLabelValues(outcome).Inc()
	}
}

// statusLabels are the status codes as label values, made once instead of
// once per request.
var statusLabels = func() (l [600]string) {
	for code := range l {
		l[code] = strconv.Itoa(code)
	}
	return l
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

// methodLabel returns the method as a label value without a copy for the
// methods HTTP defines, and "other" for any other: a client may send any
// token as a method, and each distinct one would otherwise be a new series,
// kept for the life of the process.
func methodLabel(m []byte) string {
	for _, known := range [...]string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"} {
		if string(m) == known {
			return known
		}
	}
	return "other"
}
