package http

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

func timeoutContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// rateLimiter is a token bucket per participant for writes: rate tokens a
// second, bursts of 2*rate.
type rateLimiter struct {
	rate    float64
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{rate: rate, buckets: map[string]*bucket{}}
}

func (l *rateLimiter) allow(pid string, now time.Time) error {
	if l.rate <= 0 {
		return nil
	}
	burst := 2 * l.rate
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[pid]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		l.buckets[pid] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
		return &agora.Error{Code: agora.ERATELIMITED, Message: "Too many writes; slow down.", RetryAfter: wait}
	}
	b.tokens--
	return nil
}

// expire forgets buckets that have refilled: they hold no information.
func (l *rateLimiter) expire(now time.Time) {
	if l.rate <= 0 {
		return
	}
	full := time.Duration(2 * float64(time.Second))
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.Sub(b.at) > full {
			delete(l.buckets, k)
		}
	}
}

// idempotency remembers the successful answers of creating POSTs by
// (participant, Idempotency-Key), so that a retry returns the first answer
// and creates nothing new. The map serves this node's retries and makes
// concurrent ones wait for the first; the store keeps each answer too,
// written before it is sent, so that a retry after a restart or on another
// node (a drain moves conversations) finds it. The answer is written after
// the creation's commit, not with it: a crash between the two, before the
// client got any answer, lets the retry create again.
type idempotency struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[idemKey]*idemEntry
}

// idemKey scopes a key to its participant and its request target: a key
// reused on another conversation or endpoint is not a retry and must not
// replay an answer of another kind.
type idemKey struct{ participant, target, key string }

type idemEntry struct {
	done        chan struct{} // closed when the first request has answered
	ok          bool          // a 2xx worth replaying
	status      int
	contentType string
	body        []byte
	expires     time.Time
}

// maxIdempotencyEntries bounds the memory of remembered answers; past it
// new keys are served without being remembered.
const maxIdempotencyEntries = 200_000

func newIdempotency(ttl time.Duration) *idempotency {
	return &idempotency{ttl: ttl, entries: map[idemKey]*idemEntry{}}
}

func (im *idempotency) expire(now time.Time) {
	im.mu.Lock()
	defer im.mu.Unlock()
	for k, e := range im.entries {
		select {
		case <-e.done:
			if now.After(e.expires) || !e.ok {
				delete(im.entries, k)
			}
		default:
		}
	}
}

// idempotent runs fn once per Idempotency-Key of the caller; a retry gets
// the first 2xx answer replayed. A request without the header just runs.
func (s *Server) idempotent(ctx *fasthttp.RequestCtx, c agora.Caller, fn func() error) error {
	raw := ctx.Request.Header.Peek("Idempotency-Key")
	if raw == nil {
		return fn()
	}
	// Characters as api.md counts them everywhere: code points of valid
	// UTF-8 (a header is bytes; a key of other bytes is refused).
	if n := utf8.RuneCount(raw); n == 0 || n > 64 || !utf8.Valid(raw) {
		return agora.Errorf(agora.EINVALID, "Idempotency-Key must have 1 to 64 characters of UTF-8.")
	}
	k := idemKey{participant: c.ParticipantID, target: string(ctx.Method()) + " " + string(ctx.Path()), key: string(raw)}
	im := s.idem
	for {
		now := time.Now()
		im.mu.Lock()
		e := im.entries[k]
		if e != nil && now.After(e.expires) {
			delete(im.entries, k)
			e = nil
		}
		if e == nil {
			if len(im.entries) >= maxIdempotencyEntries {
				// Memory is full: the store alone keeps the key (without
				// making concurrent retries on this node wait for the first).
				im.mu.Unlock()
				return s.answerOnce(ctx, k, &idemEntry{expires: now.Add(im.ttl)}, now, fn)
			}
			e = &idemEntry{done: make(chan struct{}), expires: now.Add(im.ttl)}
			im.entries[k] = e
			im.mu.Unlock()
			err := s.answerOnce(ctx, k, e, now, fn)
			if !e.ok {
				im.mu.Lock()
				delete(im.entries, k) // a failure is not remembered: the retry runs again
				im.mu.Unlock()
			}
			close(e.done)
			return err
		}
		im.mu.Unlock()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			return agora.Unavailable(time.Second, "The first request with this Idempotency-Key is still running.")
		}
		if !e.ok {
			continue
		}
		replay(ctx, e)
		return nil
	}
}

// answerOnce answers the first request with key k this node sees: with the
// answer the store kept for it (made before a restart, or on another node),
// or by running fn, whose 2xx answer it keeps in the store. Either way e
// holds the answer to replay when e.ok.
func (s *Server) answerOnce(ctx *fasthttp.RequestCtx, k idemKey, e *idemEntry, now time.Time, fn func() error) error {
	kept, err := s.rememberedAnswer(k, now)
	if err != nil {
		return err
	}
	if kept != nil {
		e.ok, e.status, e.contentType, e.body, e.expires = true, kept.Status, kept.ContentType, kept.Body, kept.ExpiresAt
		replay(ctx, e)
		return nil
	}
	if err := fn(); err != nil {
		return err
	}
	if status := ctx.Response.StatusCode(); status >= 200 && status < 300 {
		e.ok, e.status = true, status
		e.contentType = string(ctx.Response.Header.ContentType())
		e.body = append([]byte(nil), ctx.Response.Body()...)
		s.rememberAnswer(k, e)
	}
	return nil
}

// storeWait bounds the store's answer to an idempotency look-up or write.
const storeWait = 5 * time.Second

// replay answers with a remembered answer.
func replay(ctx *fasthttp.RequestCtx, e *idemEntry) {
	ctx.Response.Header.SetContentType(e.contentType)
	ctx.Response.Header.Set("Idempotent-Replayed", "true")
	ctx.SetStatusCode(e.status)
	ctx.SetBody(e.body)
}

// rememberedAnswer looks a key up in the store: nil when it holds no
// answer, or there is no store (tests).
func (s *Server) rememberedAnswer(k idemKey, now time.Time) (*agora.IdempotentAnswer, error) {
	if s.store == nil {
		return nil, nil
	}
	sctx, cancel := timeoutContext(storeWait)
	defer cancel()
	a, err := s.store.RememberedAnswer(sctx, k.participant, k.target, k.key, now)
	if err != nil {
		s.log.Error("reading a remembered answer failed", "err", err)
		return nil, agora.Unavailable(time.Second, "The store is not answering; try again shortly.")
	}
	return a, nil
}

// rememberAnswer keeps e's answer in the store before it is sent. A failure
// is logged, not answered: the creation is committed, and the answer stays
// in this node's memory.
func (s *Server) rememberAnswer(k idemKey, e *idemEntry) {
	if s.store == nil {
		return
	}
	sctx, cancel := timeoutContext(storeWait)
	defer cancel()
	err := s.store.RememberAnswer(sctx, agora.IdempotentAnswer{
		ParticipantID: k.participant, Target: k.target, Key: k.key,
		Status: e.status, ContentType: e.contentType, Body: e.body, ExpiresAt: e.expires,
	})
	if err != nil {
		s.log.Error("remembering an idempotent answer failed", "err", err)
	}
}
