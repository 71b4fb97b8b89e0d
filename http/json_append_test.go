package http

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// strangeStrings are strings that need every kind of escape.
var strangeStrings = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "é ü 漢字 🙂", "line\u2028para\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate",
}

func randomView(rng *rand.Rand) agora.OpinionView {
	pick := func() string { return strangeStrings[rng.IntN(len(strangeStrings))] }
	at := time.Date(2020+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(3)*rng.IntN(1e9), time.UTC)
	if rng.IntN(3) == 0 {
		at = at.In(time.FixedZone("x", 3600*(rng.IntN(25)-12)))
	}
	v := agora.OpinionView{
		Opinion: agora.Opinion{ID: pick(), ConversationID: pick(), AuthorID: pick(), Text: pick(), CreatedAt: at,
			IsSeed: rng.IntN(2) == 0, Status: agora.OpinionStatus(pick()), Seq: rng.IntN(100), Deleted: rng.IntN(2) == 0},
		Tally: agora.Tally{Agree: rng.IntN(1000), Disagree: rng.IntN(1000) - 500, Pass: rng.IntN(10)},
	}
	if rng.IntN(2) == 0 {
		v.Moderation = &agora.Moderation{Reason: agora.Reason(pick()), Explanation: pick(), At: at.Add(time.Duration(rng.Int64N(1e15)))}
	}
	if rng.IntN(2) == 0 {
		v.ExternalID = pick()
	}
	v.IsMeta = rng.IntN(2) == 0
	switch rng.IntN(3) {
	case 0:
		v.Clusters = []agora.ClusterTally{}
	case 1:
		for k := range rng.IntN(5) + 1 {
			v.Clusters = append(v.Clusters, agora.ClusterTally{Cluster: k * rng.IntN(7), Tally: agora.Tally{Agree: rng.IntN(50), Disagree: rng.IntN(50), Pass: rng.IntN(50)}})
		}
	}
	return v
}

// The appended answers are byte for byte what json.Marshal writes.
func TestAppendMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		v := randomView(rng)
		p := &agora.OpinionPage{}
		for range rng.IntN(4) {
			p.Items = append(p.Items, randomView(rng))
		}
		if rng.IntN(2) == 0 {
			c := strangeStrings[rng.IntN(len(strangeStrings))]
			p.NextCursor = &c
		}
		if rng.IntN(4) == 0 && len(p.Items) == 0 {
			p.Items = []agora.OpinionView{}
		}
		vr := &agora.VoteResult{OpinionID: strangeStrings[rng.IntN(len(strangeStrings))], Vote: agora.Vote(rng.IntN(4) - 1), Changed: rng.IntN(2) == 0}
		for _, x := range []any{&v, p, vr, (*agora.OpinionView)(nil), (*agora.OpinionPage)(nil), (*agora.VoteResult)(nil)} {
			want, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendJSON(nil, x)
			if !ok || string(got) != string(want) {
				t.Fatalf("appended %s\nmarshal  %s", got, want)
			}
		}
	}
	if _, ok := appendJSON(nil, map[string]int{}); ok {
		t.Fatal("a map is not written by appending")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range strangeStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, json.Marshal %s", s, got, want)
		}
	})
}

// A canonical vote body skips the general decoding only where that would
// give the same vote; every other body takes the general path.
func TestCanonicalVoteAgreesWithDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		contentType, body string
		canonical         bool
	}{
		{"application/json", `{"vote":"agree"}`, true},
		{"application/json", `{"vote":"disagree"}`, true},
		{"application/json", `{"vote":"pass"}`, true},
		{"application/json", `{"vote": "agree"}`, false},
		{"application/json", `{"vote":"agree","x":1}`, false},
		{"application/json", `{"vote":"Agree"}`, false},
		{"application/json; charset=utf-8", `{"vote":"agree"}`, false},
		{"text/plain", `{"vote":"agree"}`, false},
		{"", `{"vote":"agree"}`, false},
	} {
		var ctx fasthttp.RequestCtx
		if tc.contentType != "" {
			ctx.Request.Header.SetContentType(tc.contentType)
		}
		ctx.Request.SetBodyString(tc.body)
		v, ok := canonicalVote(&ctx)
		if ok != tc.canonical {
			t.Fatalf("%q %s: canonical %v", tc.contentType, tc.body, ok)
		}
		if !ok {
			continue
		}
		var req voteRequest
		if err := decodeBody(&ctx, &req, false); err != nil {
			t.Fatal(err)
		}
		if want, err := agora.ParseVote(*req.Vote); err != nil || want != v {
			t.Fatalf("%s: canonical %v, decoded %v (%v)", tc.body, v, want, err)
		}
	}
}
