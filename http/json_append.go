package http

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agora-dev/agora"
)

// The opinion answers (a page of opinions above all: the scenario's VUs
// read 100 at a time) and the answer to a vote are written by appending,
// without reflection: at 10,000 VUs encoding/json spent 6% of the server's
// CPU on them, and 5% on the votes' answers in the throughput run. The bytes
// are exactly those json.Marshal writes (TestAppendMatchesMarshal and
// FuzzAppendString hold them to it), so the API does not change.

// appendBuffers lends the buffers the answers are built in; fasthttp copies
// the body.
var appendBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAnswer keeps the rare huge answer out of the pool.
const maxPooledAnswer = 1 << 20

// appendJSON writes v's JSON after b when v is one of the types written by
// appending, and reports whether it was.
func appendJSON(b []byte, v any) ([]byte, bool) {
	switch t := v.(type) {
	case *agora.OpinionPage:
		if t == nil {
			return append(b, "null"...), true
		}
		return appendOpinionPage(b, t), true
	case *agora.OpinionView:
		if t == nil {
			return append(b, "null"...), true
		}
		return appendOpinionView(b, t), true
	case *agora.VoteResult:
		if t == nil {
			return append(b, "null"...), true
		}
		b = append(b, `{"opinion_id":`...)
		b = appendString(b, t.OpinionID)
		b = append(b, `,"vote":`...)
		b = appendString(b, t.Vote.String())
		b = append(b, `,"changed":`...)
		b = strconv.AppendBool(b, t.Changed)
		return append(b, '}'), true
	}
	return b, false
}

func appendOpinionPage(b []byte, p *agora.OpinionPage) []byte {
	b = append(b, `{"items":`...)
	if p.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range p.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOpinionView(b, &p.Items[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"next_cursor":`...)
	if p.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *p.NextCursor)
	}
	return append(b, '}')
}

func appendOpinionView(b []byte, v *agora.OpinionView) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, v.ID)
	b = append(b, `,"conversation_id":`...)
	b = appendString(b, v.ConversationID)
	b = append(b, `,"author_id":`...)
	b = appendString(b, v.AuthorID)
	b = append(b, `,"text":`...)
	b = appendString(b, v.Text)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, v.CreatedAt)
	b = append(b, `,"is_seed":`...)
	b = strconv.AppendBool(b, v.IsSeed)
	b = append(b, `,"status":`...)
	b = appendString(b, string(v.Status))
	if m := v.Moderation; m != nil {
		b = append(b, `,"moderation":{"reason":`...)
		b = appendString(b, string(m.Reason))
		b = append(b, `,"explanation":`...)
		b = appendString(b, m.Explanation)
		b = append(b, `,"at":`...)
		b = appendTime(b, m.At)
		b = append(b, '}')
	}
	if v.ExternalID != "" {
		b = append(b, `,"external_id":`...)
		b = appendString(b, v.ExternalID)
	}
	if v.IsMeta {
		b = append(b, `,"is_meta":true`...)
	}
	b = appendTally(b, ',', v.Tally)
	b = append(b, `,"clusters":`...)
	if v.Clusters == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range v.Clusters {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"cluster":`...)
			b = strconv.AppendInt(b, int64(c.Cluster), 10)
			b = appendTally(b, ',', c.Tally)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendTally writes the tally's three members, after sep.
func appendTally(b []byte, sep byte, t agora.Tally) []byte {
	b = append(b, sep)
	b = append(b, `"agree":`...)
	b = strconv.AppendInt(b, int64(t.Agree), 10)
	b = append(b, `,"disagree":`...)
	b = strconv.AppendInt(b, int64(t.Disagree), 10)
	b = append(b, `,"pass":`...)
	return strconv.AppendInt(b, int64(t.Pass), 10)
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with the
// nanoseconds it has). The times of the API are all within years 0-9999,
// where that is the whole of its rule.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string exactly as json.Marshal does:
// HTML's <, > and & escaped, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
