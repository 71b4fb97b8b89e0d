package http

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// TestDecodeBodyMatchesNamesExactly: a key that names a field only when case
// is ignored is an unknown field, ignored, where encoding/json alone would
// take it for the field.
func TestDecodeBodyMatchesNamesExactly(t *testing.T) {
	decode := func(body string, v any) error {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBodyString(body)
		return decodeBody(&ctx, v, false)
	}
	str := func(p *string) string {
		if p == nil {
			return "<missing>"
		}
		return *p
	}
	for _, tc := range []struct{ body, want string }{
		{`{"vote":"agree"}`, "agree"},
		{`{"Vote":"agree"}`, "<missing>"},
		{`{"vote":"agree","VOTE":"disagree"}`, "agree"},
		{`{"VOTE":"disagree","vote":"agree"}`, "agree"},
		{`{"vOtE":"pass"}`, "<missing>"},
		{`{"\u0076ote":"pass"}`, "pass"},      // an escaped exact name is the name
		{`{"\u0056ote":"pass"}`, "<missing>"}, // "Vote", escaped
		{`{"a\"b":"x","vote":"disagree","c":{"Vote":"agree"},"d":["Vote",{"vote":1}]}`, "disagree"},
		{`{"x":"{\"Vote\":\"agree\"}","Vote":"agree"}`, "<missing>"},
	} {
		var req voteRequest
		if err := decode(tc.body, &req); err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if got := str(req.Vote); got != tc.want {
			t.Errorf("%s: vote %s, want %s", tc.body, got, tc.want)
		}
	}

	var conv conversationRequest
	if err := decode(`{"TITLE":"upper","title":"lower","Is_Indexed":false,"seed_opinions":["a"]}`, &conv); err != nil {
		t.Fatal(err)
	}
	if str(conv.Title) != "lower" || conv.IsIndexed != nil || len(conv.SeedOpinions) != 1 {
		t.Errorf("conversation request %+v", conv)
	}
	// A wrong type under an ignored key is no error; under the field it is.
	if err := decode(`{"Vote":1,"vote":"pass"}`, new(voteRequest)); err != nil {
		t.Errorf("a wrong type under an ignored key: %v", err)
	}
	if err := decode(`{"vote":1}`, new(voteRequest)); agora.ErrorCode(err) != agora.EINVALID {
		t.Errorf("a wrong type under the field: %v", err)
	}
}
