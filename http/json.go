package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// decodeBody decodes a JSON object body into v after the checks
// encoding/json does not make: the media type, valid UTF-8 and no lone
// surrogate escapes (encoding/json would silently turn both into U+FFFD).
// An empty body is allowed only when optional is set.
func decodeBody(ctx *fasthttp.RequestCtx, v any, optional bool) error {
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return agora.Errorf(agora.EINVALID, "A JSON body is required.")
	}
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 || !optional {
		mt, _, err := mime.ParseMediaType(string(ct))
		if err != nil || (mt != "application/json" && !(len(mt) > 5 && mt[len(mt)-5:] == "+json")) {
			return agora.Errorf(agora.EUNSUPPORTED, "The body must be application/json.")
		}
	}
	if !utf8.Valid(body) {
		return agora.Errorf(agora.EINVALID, "The body is not valid UTF-8.")
	}
	if err := checkSurrogates(body); err != nil {
		return err
	}
	if body = bytes.TrimSpace(body); body[0] != '{' {
		return agora.Errorf(agora.EINVALID, "The body must be a JSON object.")
	}
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &te) {
		return agora.Errorf(agora.EINVALID, "Malformed JSON.")
	}
	// The body is valid JSON (Unmarshal checks it all before decoding).
	// encoding/json matches names regardless of case: {"Vote": ...} would
	// be taken for "vote", and {"vote": "agree", "VOTE": "disagree"} would
	// record disagree. Such a key is an unknown field, which the API
	// ignores: decode again without it.
	if keys := foldedKeys(body, v); len(keys) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return agora.Errorf(agora.EINVALID, "Malformed JSON.")
		}
		for _, k := range keys {
			delete(m, k)
		}
		exact, merr := json.Marshal(m)
		if merr != nil {
			return agora.Errorf(agora.EINVALID, "Malformed JSON.")
		}
		reflect.ValueOf(v).Elem().SetZero()
		err = json.Unmarshal(exact, v)
	}
	if err != nil {
		if errors.As(err, &te) && te.Field != "" {
			return agora.Errorf(agora.EINVALID, "Field %s must be of type %s.", te.Field, jsonType(te.Type.Kind().String()))
		}
		return agora.Errorf(agora.EINVALID, "Malformed JSON.")
	}
	return nil
}

// fieldNames caches the JSON names of the request structs' fields.
var fieldNames sync.Map // reflect.Type -> []string

func jsonNames(t reflect.Type) []string {
	if names, ok := fieldNames.Load(t); ok {
		return names.([]string)
	}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	fieldNames.Store(t, names)
	return names
}

// foldedKeys returns the top-level keys of the valid JSON object body that
// name a field of the struct v points to only when case is ignored.
func foldedKeys(body []byte, v any) []string {
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names := jsonNames(t.Elem())
	var out []string
	for _, k := range topLevelKeys(body) {
		if slices.Contains(names, k) {
			continue
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) }) {
			out = append(out, k)
		}
	}
	return out
}

// topLevelKeys lists the keys of the valid JSON object body, unescaped.
func topLevelKeys(body []byte) []string {
	var keys []string
	depth, expectKey := 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			start, escaped := i, false
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					escaped = true
					i++
				}
			}
			if !expectKey || i >= len(body) {
				continue
			}
			expectKey = false
			raw := body[start : i+1]
			if !escaped {
				keys = append(keys, string(raw[1:len(raw)-1]))
				continue
			}
			var k string
			if json.Unmarshal(raw, &k) == nil {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "int", "int64", "float64":
		return "number"
	}
	return "object"
}

// checkSurrogates rejects \uD800-\uDFFF escapes that do not form a valid
// high-low pair: JSON text allows them, UTF-8 cannot carry them.
func checkSurrogates(b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			i++
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := -1, false
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				lo, ok = hex4(b, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return agora.Errorf(agora.EINVALID, "The body contains a lone surrogate escape.")
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return agora.Errorf(agora.EINVALID, "The body contains a lone surrogate escape.")
		default:
			i += 5
		}
	}
	return nil
}

func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n := 0
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n*16 + int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// writeJSON answers v as JSON with the given status.
func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	buf := appendBuffers.Get().(*[]byte)
	body, ok := appendJSON((*buf)[:0], v)
	if !ok {
		var err error
		if body, err = json.Marshal(v); err != nil {
			appendBuffers.Put(buf)
			s.writeError(ctx, err)
			return
		}
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
	if ok && cap(body) <= maxPooledAnswer {
		*buf = body
	}
	appendBuffers.Put(buf)
}
