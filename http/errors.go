package http

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// codes maps each error code to its HTTP status: the one table.
var codes = map[string]int{
	agora.EINVALID:         fasthttp.StatusBadRequest,
	agora.EUNAUTHENTICATED: fasthttp.StatusUnauthorized,
	agora.EFORBIDDEN:       fasthttp.StatusForbidden,
	agora.ENOTFOUND:        fasthttp.StatusNotFound,
	agora.EMETHOD:          fasthttp.StatusMethodNotAllowed,
	agora.EMODERATED:       fasthttp.StatusConflict,
	agora.ETOOLARGE:        fasthttp.StatusRequestEntityTooLarge,
	agora.EUNSUPPORTED:     fasthttp.StatusUnsupportedMediaType,
	agora.ELOCKED:          fasthttp.StatusLocked,
	agora.ERATELIMITED:     fasthttp.StatusTooManyRequests,
	agora.EUNAVAILABLE:     fasthttp.StatusServiceUnavailable,
	agora.EINTERNAL:        fasthttp.StatusInternalServerError,
}

// statusOf returns the HTTP status of an error code.
func statusOf(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return fasthttp.StatusInternalServerError
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// writeError answers err as application/problem+json. Only internal errors
// are logged: everything else is the client's business.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	code := agora.ErrorCode(err)
	if code == agora.EFENCED {
		// Internal: another node took the conversation over while the
		// write waited. The client sees api.md's 503, without the epochs.
		err = agora.Unavailable(time.Second, "The conversation moved to another node; try again shortly.")
		code = agora.EUNAVAILABLE
	}
	status := statusOf(code)
	if code == agora.EINTERNAL {
		s.log.Error("internal error", "request_id", requestID(ctx), "method", string(ctx.Method()), "path", string(ctx.Path()), "err", err)
	}
	if d := agora.ErrorRetryAfter(err); d > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int((d+999_999_999)/1_000_000_000))))
	} else if status == fasthttp.StatusServiceUnavailable || status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	body, _ := json.Marshal(problem{
		Type:   "https://agora.dev/problems/" + code,
		Title:  fasthttp.StatusMessage(status),
		Status: status,
		Detail: agora.ErrorMessage(err),
		Code:   code,
	})
	ctx.Response.Header.SetContentType("application/problem+json")
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
}

// serverError answers the errors fasthttp meets before a handler runs:
// bodies over the limit, headers over the read buffer, unparsable requests.
func (s *Server) serverError(ctx *fasthttp.RequestCtx, err error) {
	switch err.(type) {
	case *fasthttp.ErrSmallBuffer:
		ctx.Response.Header.SetContentType("application/problem+json")
		ctx.SetStatusCode(fasthttp.StatusRequestHeaderFieldsTooLarge)
		ctx.SetBodyString(`{"type":"https://agora.dev/problems/invalid_input","title":"Request Header Fields Too Large","status":431,"detail":"Request headers are over 16 KiB.","code":"invalid_input"}`)
		return
	}
	if err == fasthttp.ErrBodyTooLarge {
		s.writeError(ctx, s.bodyTooLarge(ctx))
		return
	}
	s.writeError(ctx, agora.Errorf(agora.EINVALID, "The request could not be parsed as HTTP."))
}
