package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-dev/agora"
)

// The end-to-end suite: the real Main on a loopback port over a fresh
// store, driven through HTTP as a client would, against api.md. Every
// top-level test owns its server, so they run in parallel.

func TestE2EParticipants(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)

	t.Run("creating one without a body returns an id and a token", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/participants", "", nil)
		requireStatus(t, r, http.StatusCreated)
		requireKeys(t, "participant", r.object(t), "participant_id", "token")
		_, token := ts.newParticipant(t)
		me := expect[participantJSON](t, ts.do(t, "GET", "/v1/participants/me", token, nil), http.StatusOK)
		requireKeys(t, "/me", ts.do(t, "GET", "/v1/participants/me", token, nil).object(t),
			"participant_id", "display_name", "role", "created_at")
		if me.DisplayName != "" || me.Role != "participant" || me.CreatedAt.IsZero() || me.CreatedAt.Location() != time.UTC {
			t.Fatalf("/me = %+v", me)
		}
	})

	t.Run("a display name is trimmed and shown on /me", func(t *testing.T) {
		p := expect[struct {
			ID    string `json:"participant_id"`
			Token string `json:"token"`
		}](t, ts.do(t, "POST", "/v1/participants", "", map[string]string{"display_name": "  Ada Lovelace  "}), http.StatusCreated)
		me := expect[participantJSON](t, ts.do(t, "GET", "/v1/participants/me", p.Token, nil), http.StatusOK)
		if me.ParticipantID != p.ID || me.DisplayName != "Ada Lovelace" {
			t.Fatalf("/me = %+v, want id %s and name Ada Lovelace", me, p.ID)
		}
	})

	t.Run("a display name of 40 multi-byte characters is accepted", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/participants", "", map[string]string{"display_name": strings.Repeat("é", 40)})
		requireStatus(t, r, http.StatusCreated)
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"an empty display name is refused", map[string]string{"display_name": ""}},
		{"a blank display name is refused", map[string]string{"display_name": "   "}},
		{"a display name of 41 characters is refused", map[string]string{"display_name": strings.Repeat("é", 41)}},
		{"a display name that is not a string is refused", map[string]any{"display_name": 7}},
		{"a body that is not an object is refused", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "POST", "/v1/participants", "", tc.body), http.StatusBadRequest, "invalid_input")
		})
	}

	t.Run("/me refuses callers without a valid participant token", func(t *testing.T) {
		for _, tc := range []struct {
			name, authorization string
			status              int
			code                string
		}{
			{"missing token", "", 401, "unauthenticated"},
			{"another scheme", "Basic dXNlcjpwYXNz", 401, "unauthenticated"},
			{"a bearer without a token", "Bearer", 401, "unauthenticated"},
			{"a bearer with a blank token", "Bearer    ", 401, "unauthenticated"},
			{"an unknown token", "Bearer not-a-token", 401, "unauthenticated"},
			{"an overlong unknown token", "Bearer " + strings.Repeat("x", 1000), 401, "unauthenticated"},
			{"the admin token", "Bearer " + testAdminToken, 403, "forbidden"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rq := request{method: "GET", path: "/v1/participants/me"}
				if tc.authorization != "" {
					rq.header = map[string]string{"Authorization": tc.authorization}
				}
				requireProblem(t, ts.send(t, rq), tc.status, tc.code)
			})
		}
	})

	t.Run("the bearer scheme is case-insensitive", func(t *testing.T) {
		_, token := ts.newParticipant(t)
		r := ts.send(t, request{method: "GET", path: "/v1/participants/me", header: map[string]string{"Authorization": "bearer " + token}})
		requireStatus(t, r, http.StatusOK)
	})
}

func TestE2EConversations(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	author, token := ts.newParticipant(t)

	t.Run("creation answers the conversation in the shape of api.md", func(t *testing.T) {
		before := time.Now().UTC().Truncate(time.Microsecond)
		r := ts.do(t, "POST", "/v1/conversations", token, map[string]any{
			"title": "  Should the park open at night?  ", "seed_opinions": []string{"Yes", " No "},
		})
		requireStatus(t, r, http.StatusCreated)
		obj := r.object(t)
		requireKeys(t, "conversation", obj, "id", "title", "body", "author_id", "created_at", "is_indexed", "locked",
			"lock", "opinion_count", "vote_count", "participant_count", "last_reacted_at")
		for _, k := range []string{"created_at", "last_reacted_at"} {
			s, _ := obj[k].(string)
			if ts, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") || ts.Before(before) {
				t.Fatalf("%s = %q: want an RFC 3339 UTC time after %v", k, s, before)
			}
		}
		c := expect[conversationJSON](t, r, http.StatusCreated)
		if c.Title != "Should the park open at night?" || c.Body != "" || !c.IsIndexed || c.AuthorID != author ||
			c.Locked || c.Lock != nil || obj["lock"] != nil {
			t.Fatalf("conversation = %+v", c)
		}
		if !c.LastReactedAt.Equal(c.CreatedAt) {
			t.Fatalf("last_reacted_at %v, want created_at %v", c.LastReactedAt, c.CreatedAt)
		}
		if !agora.ValidID(c.ID) {
			t.Fatalf("id %q is not an id", c.ID)
		}
		if got := ts.requireCounters(t, c.ID, counts{2, 0, 0}); !reflect.DeepEqual(got, c) {
			t.Fatalf("GET answered %+v, creation %+v", got, c)
		}
		seeds := ts.opinions(t, "", c.ID, "new")
		texts := []string{}
		for _, o := range seeds {
			texts = append(texts, o.Text)
			if !o.IsSeed || o.Status != "visible" || o.AuthorID != author || o.tallyJSON != (tallyJSON{}) {
				t.Fatalf("seed opinion %+v: want a seed by the author without votes", o)
			}
		}
		slices.Sort(texts)
		if !slices.Equal(texts, []string{"No", "Yes"}) {
			t.Fatalf("seed texts %q", texts)
		}
		if v := ts.myVotes(t, token, c.ID); len(v) != 0 {
			t.Fatalf("the author has votes %v on seed opinions", v)
		}
	})

	t.Run("is_indexed false and a body are kept", func(t *testing.T) {
		c := ts.createConversation(t, token, map[string]any{"title": "T", "body": "Some context.", "is_indexed": false})
		if c.IsIndexed || c.Body != "Some context." {
			t.Fatalf("conversation = %+v", c)
		}
		if got := ts.conversation(t, c.ID); !reflect.DeepEqual(got, c) {
			t.Fatalf("GET answered %+v, creation %+v", got, c)
		}
	})

	t.Run("texts at their limits are accepted, counted in characters", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"title": strings.Repeat("€", 140), "body": strings.Repeat("ü", 3000)},
			{"title": "  " + strings.Repeat("a", 140) + "\n"},
			{"title": strings.Repeat("🙂", 140)},
			{"title": "\\ud800 is an escaped backslash, not a surrogate"},
		} {
			c := ts.createConversation(t, token, body)
			want := strings.TrimSpace(body["title"].(string))
			if c.Title != want {
				t.Fatalf("title %q, want %q", c.Title, want)
			}
		}
		raw := `{"title": "smile \ud83d\ude00"}`
		c := expect[conversationJSON](t, ts.do(t, "POST", "/v1/conversations", token, raw), http.StatusCreated)
		if c.Title != "smile 😀" {
			t.Fatalf("an escaped surrogate pair decoded as %q", c.Title)
		}
	})

	for _, tc := range []struct {
		name        string
		body        any
		contentType string
		status      int
		code        string
	}{
		{"an empty title is refused", `{"title": ""}`, "", 400, "invalid_input"},
		{"a blank title is refused", `{"title": " \t\n "}`, "", 400, "invalid_input"},
		{"a title of 141 characters is refused", map[string]string{"title": strings.Repeat("a", 141)}, "", 400, "invalid_input"},
		{"a title of 141 multi-byte characters is refused", map[string]string{"title": strings.Repeat("€", 141)}, "", 400, "invalid_input"},
		{"a body of 3001 characters is refused", map[string]string{"title": "t", "body": strings.Repeat("b", 3001)}, "", 400, "invalid_input"},
		{"a title that is a number is refused", `{"title": 5}`, "", 400, "invalid_input"},
		{"is_indexed as a string is refused", `{"title": "t", "is_indexed": "yes"}`, "", 400, "invalid_input"},
		{"seed_opinions as a string is refused", `{"title": "t", "seed_opinions": "a"}`, "", 400, "invalid_input"},
		{"an empty seed opinion is refused", `{"title": "t", "seed_opinions": [" "]}`, "", 400, "invalid_input"},
		{"101 seed opinions are refused", map[string]any{"title": "t", "seed_opinions": slices.Repeat([]string{"s"}, 101)}, "", 400, "invalid_input"},
		{"a seed opinion of 1001 characters is refused", map[string]any{"title": "t", "seed_opinions": []string{strings.Repeat("s", 1001)}}, "", 400, "invalid_input"},
		{"deeply nested JSON is refused", `{"title": "t", "x": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "", 400, "invalid_input"},
		{"a missing title is refused", `{"body": "b"}`, "", 400, "invalid_input"},
		{"a title in capitals is an unknown field, so a missing title", `{"TITLE": "t"}`, "", 400, "invalid_input"},
		{"a null title is refused", `{"title": null}`, "", 400, "invalid_input"},
		{"an array is refused", `[{"title": "t"}]`, "", 400, "invalid_input"},
		{"a string is refused", `"title"`, "", 400, "invalid_input"},
		{"malformed JSON is refused", `{"title": "t"`, "", 400, "invalid_input"},
		{"trailing garbage is refused", `{"title": "t"} x`, "", 400, "invalid_input"},
		{"an empty body is refused", "", "", 400, "invalid_input"},
		{"invalid UTF-8 is refused", []byte("{\"title\": \"caf\xe9\"}"), "", 400, "invalid_input"},
		{"a lone high surrogate is refused", `{"title": "a\ud800b"}`, "", 400, "invalid_input"},
		{"a lone low surrogate is refused", `{"title": "\udc00"}`, "", 400, "invalid_input"},
		{"a reversed surrogate pair is refused", `{"title": "\ude00\ud83d"}`, "", 400, "invalid_input"},
		{"a lone surrogate in an unknown field is refused", `{"title": "t", "x": "\uD800"}`, "", 400, "invalid_input"},
		{"a text/plain body is refused", `{"title": "t"}`, "text/plain", 415, "unsupported_media_type"},
		{"a form body is refused", `title=t`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"a body over 64 KiB is refused", map[string]string{"title": "t", "body": strings.Repeat("b", 70<<10)}, "", 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if s, ok := body.(string); ok && s == "" {
				body = []byte{}
			}
			r := ts.send(t, request{method: "POST", path: "/v1/conversations", token: token, body: body, contentType: tc.contentType})
			requireProblem(t, r, tc.status, tc.code)
		})
	}

	t.Run("a JSON content type with parameters is accepted", func(t *testing.T) {
		r := ts.send(t, request{method: "POST", path: "/v1/conversations", token: token, body: `{"title": "t", "unknown": [1, {"a": 2}]}`,
			contentType: "application/json; charset=utf-8"})
		requireStatus(t, r, http.StatusCreated)
	})

	t.Run("creation needs a participant", func(t *testing.T) {
		requireProblem(t, ts.do(t, "POST", "/v1/conversations", "", map[string]string{"title": "t"}), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "POST", "/v1/conversations", "unknown-token", map[string]string{"title": "t"}), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "POST", "/v1/conversations", testAdminToken, map[string]string{"title": "t"}), 403, "forbidden")
	})

	t.Run("an unknown conversation is 404 and a malformed id 400", func(t *testing.T) {
		_, other := ts.newParticipant(t)
		for _, tc := range []struct {
			name, id string
			status   int
			code     string
		}{
			{"unknown", "doesNotExist42", 404, "not_found"},
			{"a 64-character unknown id", strings.Repeat("a", 64), 404, "not_found"},
			{"a character outside the alphabet", "bad$id", 400, "invalid_input"},
			{"an escaped character outside the alphabet", "bad%20id", 400, "invalid_input"},
			{"65 characters", strings.Repeat("a", 65), 400, "invalid_input"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				requireProblem(t, ts.do(t, "GET", convPath(tc.id), "", nil), tc.status, tc.code)
				requireProblem(t, ts.do(t, "DELETE", convPath(tc.id), other, nil), tc.status, tc.code)
				requireProblem(t, ts.do(t, "GET", opinionsPath(tc.id), "", nil), tc.status, tc.code)
				requireProblem(t, ts.do(t, "POST", opinionsPath(tc.id), other, map[string]string{"text": "x"}), tc.status, tc.code)
				requireProblem(t, ts.do(t, "GET", myVotesPath(tc.id), other, nil), tc.status, tc.code)
			})
		}
	})

	t.Run("a non-author may not delete, the author may, and then it is gone everywhere", func(t *testing.T) {
		c := ts.createConversation(t, token, map[string]any{"title": "to delete"})
		o := ts.createOpinion(t, token, c.ID, "an opinion")
		pid, other := ts.newParticipant(t)
		ts.vote(t, other, c.ID, o.ID, "disagree")
		requireProblem(t, ts.do(t, "DELETE", convPath(c.ID), other, nil), 403, "forbidden")
		ts.setRole(t, pid, "moderator")
		requireProblem(t, ts.do(t, "DELETE", convPath(c.ID), other, nil), 403, "forbidden")
		ts.setRole(t, pid, "participant")
		requireStatus(t, ts.do(t, "DELETE", convPath(c.ID), token, nil), http.StatusNoContent)

		for _, rq := range []request{
			{method: "GET", path: convPath(c.ID)},
			{method: "DELETE", path: convPath(c.ID), token: token},
			{method: "GET", path: opinionsPath(c.ID)},
			{method: "GET", path: opinionPath(c.ID, o.ID)},
			{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "x"}},
			{method: "DELETE", path: opinionPath(c.ID, o.ID), token: token},
			{method: "PUT", path: votePath(c.ID, o.ID), token: other, body: map[string]string{"vote": "agree"}},
			{method: "DELETE", path: votePath(c.ID, o.ID), token: other},
			{method: "GET", path: myVotesPath(c.ID), token: other},
			{method: "GET", path: convPath(c.ID) + "/next", token: other},
			{method: "PUT", path: convPath(c.ID) + "/lock", token: token, body: map[string]string{"reason": "spam"}},
			{method: "DELETE", path: convPath(c.ID) + "/lock", token: token},
			{method: "PUT", path: opinionPath(c.ID, o.ID) + "/moderation", token: token, body: map[string]string{"action": "move", "reason": "spam"}},
			{method: "GET", path: "/admin/conversations/" + c.ID + "/state", token: testAdminToken},
		} {
			requireProblem(t, ts.send(t, rq), 404, "not_found")
		}
		if ids := listIDs(t, ts, "new"); slices.Contains(ids, c.ID) {
			t.Fatalf("a deleted conversation is listed")
		}
	})

	t.Run("the admin may delete any conversation", func(t *testing.T) {
		c := ts.createConversation(t, token, nil)
		requireStatus(t, ts.do(t, "DELETE", convPath(c.ID), testAdminToken, nil), http.StatusNoContent)
		requireProblem(t, ts.do(t, "GET", convPath(c.ID), "", nil), 404, "not_found")
		requireProblem(t, ts.do(t, "DELETE", convPath(c.ID), testAdminToken, nil), 404, "not_found")
	})
}

// listIDs lists the ids of every listed conversation, following the cursors
// with small pages, and fails on a duplicate.
func listIDs(t *testing.T, ts *TestServer, sort string) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		path := "/v1/conversations?limit=2&sort=" + sort
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		p := expect[conversationPage](t, ts.do(t, "GET", path, "", nil), http.StatusOK)
		if len(p.Items) > 2 {
			t.Fatalf("%s: %d items, limit 2", path, len(p.Items))
		}
		for _, c := range p.Items {
			if seen[c.ID] {
				t.Fatalf("conversation %s listed twice", c.ID)
			}
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
		if p.NextCursor == nil {
			return ids
		}
		cursor = *p.NextCursor
	}
	t.Fatalf("the listing never ends")
	return nil
}

func TestE2EConversationListing(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, token := ts.newParticipant(t)
	_, voter := ts.newParticipant(t)

	t.Run("an empty listing has no items and no cursor", func(t *testing.T) {
		r := ts.do(t, "GET", "/v1/conversations", "", nil)
		requireKeys(t, "page", r.object(t), "items", "next_cursor")
		p := expect[conversationPage](t, r, http.StatusOK)
		if p.Items == nil || len(p.Items) != 0 || p.NextCursor != nil {
			t.Fatalf("page = %s", r.Body)
		}
	})

	var listed []conversationJSON // in creation order
	var opinions []string
	for i := range 5 {
		c := ts.createConversation(t, token, map[string]any{"title": fmt.Sprintf("listed %d", i), "seed_opinions": []string{"seed"}})
		listed = append(listed, c)
		opinions = append(opinions, ts.opinions(t, "", c.ID, "new")[0].ID)
	}
	hidden := ts.createConversation(t, token, map[string]any{"title": "not indexed", "is_indexed": false})
	locked := ts.createConversation(t, token, map[string]any{"title": "locked"})
	ts.lock(t, token, locked.ID)

	t.Run("sort new lists indexed unlocked conversations newest first across pages", func(t *testing.T) {
		want := []string{}
		for i := len(listed) - 1; i >= 0; i-- {
			want = append(want, listed[i].ID)
		}
		for _, sort := range []string{"new", ""} {
			if got := listIDs(t, ts, sort); !slices.Equal(got, want) {
				t.Fatalf("sort=%q lists %v, want %v (not %s or %s)", sort, got, want, hidden.ID, locked.ID)
			}
		}
	})

	t.Run("sort active follows the last reaction", func(t *testing.T) {
		ts.vote(t, voter, listed[1].ID, opinions[1], "agree")
		ts.vote(t, voter, listed[3].ID, opinions[3], "pass")
		ts.vote(t, voter, listed[1].ID, opinions[1], "agree") // a no-op moves nothing
		want := []string{listed[3].ID, listed[1].ID, listed[4].ID, listed[2].ID, listed[0].ID}
		if got := listIDs(t, ts, "active"); !slices.Equal(got, want) {
			t.Fatalf("sort=active lists %v, want %v", got, want)
		}
		p := expect[conversationPage](t, ts.do(t, "GET", "/v1/conversations?sort=active&limit=1", "", nil), http.StatusOK)
		if got := p.Items[0]; !reflect.DeepEqual(got, ts.conversation(t, listed[3].ID)) || got.VoteCount != 1 || got.ParticipantCount != 1 {
			t.Fatalf("the listing shows %+v, GET shows %+v", got, ts.conversation(t, listed[3].ID))
		}
	})

	t.Run("an unlocked conversation is listed again", func(t *testing.T) {
		ts.unlock(t, token, locked.ID)
		if got := listIDs(t, ts, "new"); got[0] != locked.ID || len(got) != 6 {
			t.Fatalf("listing %v, want %s first", got, locked.ID)
		}
		ts.lock(t, token, locked.ID)
	})

	t.Run("a page of limit 100 holds everything", func(t *testing.T) {
		p := expect[conversationPage](t, ts.do(t, "GET", "/v1/conversations?limit=100", "", nil), http.StatusOK)
		if len(p.Items) != 5 || p.NextCursor != nil {
			t.Fatalf("%d items, cursor %v", len(p.Items), p.NextCursor)
		}
	})

	newCursor := *expect[conversationPage](t, ts.do(t, "GET", "/v1/conversations?limit=1&sort=new", "", nil), http.StatusOK).NextCursor
	for _, query := range []string{
		"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=", "sort=old", "sort=NEW",
		"cursor=not-a-cursor", "cursor=%21%21%21", "cursor=" + url.QueryEscape(newCursor) + "&sort=active",
	} {
		t.Run("the query "+query+" is refused", func(t *testing.T) {
			requireProblem(t, ts.do(t, "GET", "/v1/conversations?"+query, "", nil), 400, "invalid_input")
		})
	}
}

func TestE2EOpinions(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, ownerToken := ts.newParticipant(t)
	author, token := ts.newParticipant(t)
	c := ts.createConversation(t, ownerToken, nil)

	var first opinionJSON
	t.Run("creation answers the opinion with its author's agree vote counted", func(t *testing.T) {
		before := ts.conversation(t, c.ID).LastReactedAt
		r := ts.do(t, "POST", opinionsPath(c.ID), token, map[string]string{"text": "  Parks are for everyone.  "})
		requireStatus(t, r, http.StatusCreated)
		requireKeys(t, "opinion", r.object(t), "id", "conversation_id", "author_id", "text", "created_at", "is_seed",
			"status", "agree", "disagree", "pass", "clusters")
		first = expect[opinionJSON](t, r, http.StatusCreated)
		if !agora.ValidID(first.ID) || first.ConversationID != c.ID || first.AuthorID != author || first.Text != "Parks are for everyone." ||
			first.IsSeed || first.Status != "visible" || first.tallyJSON != (tallyJSON{Agree: 1}) || first.Clusters == nil || len(first.Clusters) != 0 {
			t.Fatalf("opinion = %s", r.Body)
		}
		got := ts.requireCounters(t, c.ID, counts{1, 1, 1})
		if !got.LastReactedAt.Equal(first.CreatedAt) || !got.LastReactedAt.After(before) {
			t.Fatalf("last_reacted_at %v, want the opinion's created_at %v", got.LastReactedAt, first.CreatedAt)
		}
		if v := ts.myVotes(t, token, c.ID); len(v) != 1 || v[first.ID] != "agree" {
			t.Fatalf("the author's votes %v", v)
		}
	})

	t.Run("an opinion of 1000 multi-byte characters is accepted", func(t *testing.T) {
		o := ts.createOpinion(t, token, c.ID, strings.Repeat("ß", 1000))
		requireStatus(t, ts.do(t, "DELETE", opinionPath(c.ID, o.ID), token, nil), http.StatusNoContent)
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"an empty text is refused", `{"text": ""}`},
		{"a blank text is refused", `{"text": "  \n"}`},
		{"a text of 1001 characters is refused", map[string]string{"text": strings.Repeat("ß", 1001)}},
		{"a missing text is refused", `{"txt": "x"}`},
		{"a text that is a number is refused", `{"text": 1}`},
		{"a text that is an object is refused", `{"text": {"x": 1}}`},
		{"a lone surrogate is refused", `{"text": "\ud800"}`},
		{"an array body is refused", `["x"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "POST", opinionsPath(c.ID), token, tc.body), 400, "invalid_input")
		})
	}
	t.Run("a text/plain body is refused", func(t *testing.T) {
		r := ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: `{"text": "x"}`, contentType: "text/plain"})
		requireProblem(t, r, 415, "unsupported_media_type")
	})
	t.Run("posting needs a participant", func(t *testing.T) {
		requireProblem(t, ts.do(t, "POST", opinionsPath(c.ID), "", map[string]string{"text": "x"}), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "POST", opinionsPath(c.ID), testAdminToken, map[string]string{"text": "x"}), 403, "forbidden")
	})
	t.Run("posting to an unknown conversation is 404", func(t *testing.T) {
		requireProblem(t, ts.do(t, "POST", opinionsPath("unknownConv1"), token, map[string]string{"text": "x"}), 404, "not_found")
	})
	ts.requireCounters(t, c.ID, counts{1, 1, 1})

	t.Run("one opinion is read by id, by anyone", func(t *testing.T) {
		for _, tok := range []string{"", token, ownerToken, testAdminToken} {
			if got := ts.opinion(t, tok, c.ID, first.ID); got.ID != first.ID || got.Text != first.Text || got.tallyJSON != first.tallyJSON ||
				!got.CreatedAt.Equal(first.CreatedAt) {
				t.Fatalf("GET answered %+v, creation %+v", got, first)
			}
		}
		requireProblem(t, ts.do(t, "GET", opinionPath(c.ID, "unknownOp1"), "", nil), 404, "not_found")
		requireProblem(t, ts.do(t, "GET", opinionPath(c.ID, "bad.id"), "", nil), 400, "invalid_input")
		requireProblem(t, ts.do(t, "GET", opinionPath(c.ID, strings.Repeat("o", 65)), "", nil), 400, "invalid_input")
		other := ts.createConversation(t, ownerToken, nil)
		requireProblem(t, ts.do(t, "GET", opinionPath(other.ID, first.ID), "", nil), 404, "not_found")
	})

	// Eleven opinions in creation order.
	ids := []string{first.ID}
	for i := range 10 {
		ids = append(ids, ts.createOpinion(t, token, c.ID, fmt.Sprintf("opinion %d", i)).ID)
	}
	ts.requireCounters(t, c.ID, counts{11, 11, 1})

	t.Run("sort new lists newest first, page by page without duplicates", func(t *testing.T) {
		want := slices.Clone(ids)
		slices.Reverse(want)
		for _, limit := range []int{1, 3, 4, 11, 500} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("limit %d: the listing never ends", limit)
				}
				path := opinionsPath(c.ID) + "?sort=new&limit=" + strconv.Itoa(limit)
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				p := expect[opinionPage](t, ts.do(t, "GET", path, "", nil), http.StatusOK)
				if len(p.Items) > limit || (p.NextCursor != nil && len(p.Items) != limit) {
					t.Fatalf("%s: %d items, cursor %v", path, len(p.Items), p.NextCursor)
				}
				for _, o := range p.Items {
					got = append(got, o.ID)
				}
				if p.NextCursor == nil {
					break
				}
				cursor = *p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d lists %v, want %v", limit, got, want)
			}
		}
		if got := ts.opinions(t, "", c.ID, ""); len(got) != len(ids) || got[0].ID != ids[len(ids)-1] {
			t.Fatalf("the default sort is not new: %v", got)
		}
	})

	for _, query := range []string{
		"limit=0", "limit=501", "limit=x", "sort=newest", "sort=cluster", "sort=cluster&cluster=x", "cluster=-1",
		"cursor=garbage", "cursor=%2A",
	} {
		t.Run("the query "+query+" is refused", func(t *testing.T) {
			requireProblem(t, ts.do(t, "GET", opinionsPath(c.ID)+"?"+query, "", nil), 400, "invalid_input")
		})
	}

	t.Run("deletion by another participant is forbidden", func(t *testing.T) {
		_, other := ts.newParticipant(t)
		requireProblem(t, ts.do(t, "DELETE", opinionPath(c.ID, ids[1]), other, nil), 403, "forbidden")
		requireProblem(t, ts.do(t, "DELETE", opinionPath(c.ID, ids[1]), "", nil), 401, "unauthenticated")
		ts.requireCounters(t, c.ID, counts{11, 11, 1})
	})

	t.Run("the author, a moderator and the admin may delete, and the opinion is then gone", func(t *testing.T) {
		modID, moderator := ts.newParticipant(t)
		ts.setRole(t, modID, "moderator")
		_, voter := ts.newParticipant(t)
		ts.vote(t, voter, c.ID, ids[1], "disagree")
		ts.requireCounters(t, c.ID, counts{11, 12, 2})
		before := ts.conversation(t, c.ID).LastReactedAt
		for i, tok := range []string{token, moderator, testAdminToken} {
			oid := ids[1+i]
			requireStatus(t, ts.do(t, "DELETE", opinionPath(c.ID, oid), tok, nil), http.StatusNoContent)
			for _, rq := range []request{
				{method: "GET", path: opinionPath(c.ID, oid)},
				{method: "PUT", path: votePath(c.ID, oid), token: voter, body: map[string]string{"vote": "agree"}},
				{method: "DELETE", path: votePath(c.ID, oid), token: voter},
				{method: "DELETE", path: opinionPath(c.ID, oid), token: tok},
				{method: "PUT", path: opinionPath(c.ID, oid) + "/moderation", token: moderator, body: map[string]string{"action": "hide", "reason": "spam"}},
			} {
				requireProblem(t, ts.send(t, rq), 404, "not_found")
			}
		}
		// The voter's only vote was on ids[1]: it no longer counts.
		got := ts.requireCounters(t, c.ID, counts{8, 8, 1})
		if !got.LastReactedAt.Equal(before) {
			t.Fatalf("a deletion moved last_reacted_at from %v to %v", before, got.LastReactedAt)
		}
		if v := ts.myVotes(t, voter, c.ID); len(v) != 0 {
			t.Fatalf("votes/me lists votes on deleted opinions: %v", v)
		}
		for _, o := range ts.opinions(t, "", c.ID, "new") {
			if slices.Contains(ids[1:4], o.ID) {
				t.Fatalf("a deleted opinion is listed")
			}
		}
	})
}

func TestE2EVotes(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	_, voter := ts.newParticipant(t)
	c := ts.createConversation(t, author, map[string]any{"title": "votes", "seed_opinions": []string{"a", "b", "c"}})
	seeds := ts.opinions(t, "", c.ID, "new")
	oid := seeds[0].ID

	t.Run("casting, repeating, changing and cancelling a vote", func(t *testing.T) {
		last := c.LastReactedAt
		for _, step := range []struct {
			vote    string // "" cancels
			changed bool
			tally   tallyJSON
			want    counts
		}{
			{"agree", true, tallyJSON{Agree: 1}, counts{3, 1, 1}},
			{"agree", false, tallyJSON{Agree: 1}, counts{3, 1, 1}},
			{"disagree", true, tallyJSON{Disagree: 1}, counts{3, 1, 1}},
			{"pass", true, tallyJSON{Pass: 1}, counts{3, 1, 1}},
			{"pass", false, tallyJSON{Pass: 1}, counts{3, 1, 1}},
			{"", true, tallyJSON{}, counts{3, 0, 0}},
			{"", false, tallyJSON{}, counts{3, 0, 0}},
			{"disagree", true, tallyJSON{Disagree: 1}, counts{3, 1, 1}},
		} {
			if step.vote == "" {
				ts.cancelVote(t, voter, c.ID, oid)
			} else {
				r := ts.do(t, "PUT", votePath(c.ID, oid), voter, map[string]string{"vote": step.vote})
				requireKeys(t, "vote result", r.object(t), "opinion_id", "vote", "changed")
				res := expect[voteResultJSON](t, r, http.StatusOK)
				if res != (voteResultJSON{OpinionID: oid, Vote: step.vote, Changed: step.changed}) {
					t.Fatalf("vote %s answered %+v, want changed=%v", step.vote, res, step.changed)
				}
			}
			got := ts.requireCounters(t, c.ID, step.want)
			if step.changed && !got.LastReactedAt.After(last) {
				t.Fatalf("after %+v last_reacted_at %v did not advance from %v", step, got.LastReactedAt, last)
			}
			if !step.changed && !got.LastReactedAt.Equal(last) {
				t.Fatalf("the no-op %+v moved last_reacted_at from %v to %v", step, last, got.LastReactedAt)
			}
			last = got.LastReactedAt
			if o := ts.opinion(t, "", c.ID, oid); o.tallyJSON != step.tally {
				t.Fatalf("after %+v the tally is %+v, want %+v", step, o.tallyJSON, step.tally)
			}
		}
	})

	t.Run("votes/me lists the caller's current votes", func(t *testing.T) {
		r := ts.do(t, "GET", myVotesPath(c.ID), voter, nil)
		requireKeys(t, "votes/me", r.object(t), "votes")
		ts.vote(t, voter, c.ID, seeds[2].ID, "pass")
		want := map[string]string{oid: "disagree", seeds[2].ID: "pass"}
		if got := ts.myVotes(t, voter, c.ID); !maps.Equal(got, want) {
			t.Fatalf("votes/me = %v, want %v", got, want)
		}
		if got := ts.myVotes(t, author, c.ID); len(got) != 0 {
			t.Fatalf("votes/me of a participant without votes = %v", got)
		}
		requireProblem(t, ts.do(t, "GET", myVotesPath(c.ID), "", nil), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "GET", myVotesPath(c.ID), testAdminToken, nil), 403, "forbidden")
		ts.requireCounters(t, c.ID, counts{3, 2, 1})
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"an unknown vote is refused", `{"vote": "maybe"}`},
		{"a vote in capitals is refused", `{"vote": "AGREE"}`},
		{"a numeric vote is refused", `{"vote": 1}`},
		{"a null vote is refused", `{"vote": null}`},
		{"a missing vote is refused", `{}`},
		{"a body that is not an object is refused", `"agree"`},
		{"an empty body is refused", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "PUT", votePath(c.ID, seeds[1].ID), voter, tc.body), 400, "invalid_input")
		})
	}

	t.Run("votes on unknown opinions and conversations are 404", func(t *testing.T) {
		for _, path := range []string{votePath(c.ID, "unknownOpinion"), votePath("unknownConv", oid)} {
			requireProblem(t, ts.do(t, "PUT", path, voter, map[string]string{"vote": "agree"}), 404, "not_found")
			requireProblem(t, ts.do(t, "DELETE", path, voter, nil), 404, "not_found")
		}
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, "bad!"), voter, map[string]string{"vote": "agree"}), 400, "invalid_input")
		other := ts.createConversation(t, author, map[string]any{"title": "other", "seed_opinions": []string{"x"}})
		requireProblem(t, ts.do(t, "PUT", votePath(other.ID, oid), voter, map[string]string{"vote": "agree"}), 404, "not_found")
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, ts.opinions(t, "", other.ID, "new")[0].ID), voter, map[string]string{"vote": "agree"}), 404, "not_found")
	})

	t.Run("voting needs a participant", func(t *testing.T) {
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, oid), "", map[string]string{"vote": "agree"}), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, oid), testAdminToken, map[string]string{"vote": "agree"}), 403, "forbidden")
		requireProblem(t, ts.do(t, "DELETE", votePath(c.ID, oid), testAdminToken, nil), 403, "forbidden")
	})
	ts.requireCounters(t, c.ID, counts{3, 2, 1})

	t.Run("a locked conversation refuses votes, cancels and opinions with 423", func(t *testing.T) {
		ts.lock(t, author, c.ID)
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, seeds[1].ID), voter, map[string]string{"vote": "agree"}), 423, "conversation_locked")
		requireProblem(t, ts.do(t, "PUT", votePath(c.ID, oid), voter, map[string]string{"vote": "disagree"}), 423, "conversation_locked")
		requireProblem(t, ts.do(t, "DELETE", votePath(c.ID, oid), voter, nil), 423, "conversation_locked")
		requireProblem(t, ts.do(t, "DELETE", votePath(c.ID, seeds[1].ID), voter, nil), 423, "conversation_locked")
		requireProblem(t, ts.do(t, "POST", opinionsPath(c.ID), voter, map[string]string{"text": "x"}), 423, "conversation_locked")
		ts.requireCounters(t, c.ID, counts{3, 2, 1})
		ts.unlock(t, author, c.ID)
		ts.vote(t, voter, c.ID, seeds[1].ID, "agree")
		ts.requireCounters(t, c.ID, counts{3, 3, 1})
	})

	t.Run("moved and hidden opinions refuse votes and cancels with 409", func(t *testing.T) {
		for _, action := range []string{"move", "hide"} {
			ts.moderate(t, author, c.ID, seeds[1].ID, action)
			requireProblem(t, ts.do(t, "PUT", votePath(c.ID, seeds[1].ID), voter, map[string]string{"vote": "disagree"}), 409, "opinion_moderated")
			requireProblem(t, ts.do(t, "PUT", votePath(c.ID, seeds[1].ID), voter, map[string]string{"vote": "agree"}), 409, "opinion_moderated")
			requireProblem(t, ts.do(t, "DELETE", votePath(c.ID, seeds[1].ID), voter, nil), 409, "opinion_moderated")
			requireProblem(t, ts.do(t, "DELETE", votePath(c.ID, seeds[1].ID), author, nil), 409, "opinion_moderated")
			ts.requireCounters(t, c.ID, counts{2, 2, 1})
			ts.unmoderate(t, author, c.ID, seeds[1].ID)
			ts.requireCounters(t, c.ID, counts{3, 3, 1})
		}
		if got := ts.myVotes(t, voter, c.ID); got[seeds[1].ID] != "agree" {
			t.Fatalf("the vote on the moderated opinion was lost: %v", got)
		}
	})
}

func TestE2EModeration(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	modID, moderator := ts.newParticipant(t)
	ts.setRole(t, modID, "moderator")
	_, plain := ts.newParticipant(t)
	c := ts.createConversation(t, author, nil)

	t.Run("the author, a moderator and the admin lock and unlock", func(t *testing.T) {
		for _, tok := range []string{author, moderator, testAdminToken} {
			before := time.Now().UTC().Truncate(time.Microsecond)
			r := ts.do(t, "PUT", convPath(c.ID)+"/lock", tok, map[string]string{"reason": "misleading", "explanation": "  see the FAQ  "})
			obj := r.object(t)
			requireKeys(t, "lock", obj["lock"].(map[string]any), "reason", "explanation", "at")
			got := expect[conversationJSON](t, r, http.StatusOK)
			if !got.Locked || got.Lock.Reason != "misleading" || got.Lock.Explanation != "see the FAQ" ||
				got.Lock.At.Before(before) || got.ID != c.ID {
				t.Fatalf("locked conversation = %s", r.Body)
			}
			if again := ts.conversation(t, c.ID); !reflect.DeepEqual(again, got) {
				t.Fatalf("GET answered %+v, the lock %+v", again, got)
			}
			// Locking again is idempotent.
			if again := expect[conversationJSON](t, ts.do(t, "PUT", convPath(c.ID)+"/lock", tok,
				map[string]string{"reason": "misleading", "explanation": "see the FAQ"}), http.StatusOK); !reflect.DeepEqual(again, got) {
				t.Fatalf("locking again answered %+v, want %+v", again, got)
			}
			u := ts.unlock(t, tok, c.ID)
			if u.ID != c.ID || u.OpinionCount != 0 {
				t.Fatalf("unlocked conversation = %+v", u)
			}
			if obj := ts.do(t, "GET", convPath(c.ID), "", nil).object(t); obj["lock"] != nil || obj["locked"] != false {
				t.Fatalf("an unlocked conversation shows locked=%v lock=%v", obj["locked"], obj["lock"])
			}
			ts.unlock(t, tok, c.ID) // unlocking an unlocked conversation is idempotent
		}
	})

	t.Run("every reason is accepted and the explanation is optional", func(t *testing.T) {
		for _, reason := range []string{"misleading", "antisocial", "illegal", "doxing", "sexual", "spam"} {
			got := expect[conversationJSON](t, ts.do(t, "PUT", convPath(c.ID)+"/lock", author, map[string]string{"reason": reason}), http.StatusOK)
			if got.Lock == nil || got.Lock.Reason != reason || got.Lock.Explanation != "" {
				t.Fatalf("lock = %+v", got.Lock)
			}
		}
		ts.unlock(t, author, c.ID)
	})

	t.Run("a plain participant may not lock or unlock", func(t *testing.T) {
		requireProblem(t, ts.do(t, "PUT", convPath(c.ID)+"/lock", plain, map[string]string{"reason": "spam"}), 403, "forbidden")
		ts.lock(t, author, c.ID)
		requireProblem(t, ts.do(t, "DELETE", convPath(c.ID)+"/lock", plain, nil), 403, "forbidden")
		requireProblem(t, ts.do(t, "DELETE", convPath(c.ID)+"/lock", "", nil), 401, "unauthenticated")
		ts.unlock(t, author, c.ID)
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"an unknown reason is refused", map[string]string{"reason": "boring"}},
		{"a missing reason is refused", map[string]string{"explanation": "x"}},
		{"an explanation of 1001 characters is refused", map[string]string{"reason": "spam", "explanation": strings.Repeat("x", 1001)}},
		{"an explanation that is a number is refused", map[string]any{"reason": "spam", "explanation": 3}},
	} {
		t.Run("locking: "+tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "PUT", convPath(c.ID)+"/lock", author, tc.body), 400, "invalid_input")
		})
	}
	t.Run("an explanation of 1000 characters is accepted", func(t *testing.T) {
		got := expect[conversationJSON](t, ts.do(t, "PUT", convPath(c.ID)+"/lock", author,
			map[string]string{"reason": "spam", "explanation": strings.Repeat("ö", 1000)}), http.StatusOK)
		if len([]rune(got.Lock.Explanation)) != 1000 {
			t.Fatalf("explanation of %d characters", len([]rune(got.Lock.Explanation)))
		}
		ts.unlock(t, author, c.ID)
	})

	// Three opinions; the plain participant and the author also vote on the first.
	_, voter := ts.newParticipant(t)
	o1 := ts.createOpinion(t, voter, c.ID, "one")
	o2 := ts.createOpinion(t, author, c.ID, "two")
	o3 := ts.createOpinion(t, author, c.ID, "three")
	ts.vote(t, plain, c.ID, o1.ID, "disagree")
	ts.vote(t, author, c.ID, o1.ID, "pass")
	ts.requireCounters(t, c.ID, counts{3, 5, 3})

	t.Run("moving an opinion takes it and its votes out of the counters and into sort moderated", func(t *testing.T) {
		last := ts.conversation(t, c.ID).LastReactedAt
		r := ts.do(t, "PUT", opinionPath(c.ID, o1.ID)+"/moderation", author,
			map[string]string{"action": "move", "reason": "misleading", "explanation": "off topic"})
		o := expect[opinionJSON](t, r, http.StatusOK)
		if o.Status != "moved" || o.tallyJSON != (tallyJSON{1, 1, 1}) {
			t.Fatalf("moved opinion = %s", r.Body)
		}
		got := ts.requireCounters(t, c.ID, counts{2, 2, 1})
		if !got.LastReactedAt.Equal(last) {
			t.Fatalf("a moderation moved last_reacted_at")
		}
		requireOpinionIDs(t, ts.opinions(t, "", c.ID, "moderated"), o1.ID)
		requireOpinionIDs(t, ts.opinions(t, "", c.ID, "new"), o3.ID, o2.ID)
		if got := ts.opinion(t, "", c.ID, o1.ID); got.Status != "moved" {
			t.Fatalf("a moved opinion reads as %+v", got)
		}
	})

	t.Run("hiding it instead leaves sort moderated for sort hidden, which only moderators may list", func(t *testing.T) {
		ts.moderate(t, moderator, c.ID, o1.ID, "hide")
		ts.requireCounters(t, c.ID, counts{2, 2, 1})
		requireOpinionIDs(t, ts.opinions(t, "", c.ID, "moderated"))
		for _, tok := range []string{author, moderator, testAdminToken} {
			requireOpinionIDs(t, ts.opinions(t, tok, c.ID, "hidden"), o1.ID)
			if got := ts.opinion(t, tok, c.ID, o1.ID); got.Status != "hidden" {
				t.Fatalf("a hidden opinion reads as %+v to a moderator", got)
			}
		}
		requireProblem(t, ts.do(t, "GET", opinionsPath(c.ID)+"?sort=hidden", plain, nil), 403, "forbidden")
		requireProblem(t, ts.do(t, "GET", opinionsPath(c.ID)+"?sort=hidden", "", nil), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "GET", opinionPath(c.ID, o1.ID), plain, nil), 404, "not_found")
		requireProblem(t, ts.do(t, "GET", opinionPath(c.ID, o1.ID), "", nil), 404, "not_found")
	})

	t.Run("withdrawing the moderation counts the opinion and its votes again", func(t *testing.T) {
		o := ts.unmoderate(t, testAdminToken, c.ID, o1.ID)
		if o.tallyJSON != (tallyJSON{1, 1, 1}) {
			t.Fatalf("the votes of a moderated opinion were lost: %+v", o)
		}
		ts.requireCounters(t, c.ID, counts{3, 5, 3})
		requireOpinionIDs(t, ts.opinions(t, "", c.ID, "moderated"))
		requireOpinionIDs(t, ts.opinions(t, author, c.ID, "hidden"))
		requireOpinionIDs(t, ts.opinions(t, "", c.ID, "new"), o3.ID, o2.ID, o1.ID)
		ts.unmoderate(t, author, c.ID, o1.ID) // withdrawing again is idempotent
		ts.requireCounters(t, c.ID, counts{3, 5, 3})
	})

	t.Run("moderating twice the same way is idempotent", func(t *testing.T) {
		ts.moderate(t, author, c.ID, o2.ID, "move")
		ts.moderate(t, author, c.ID, o2.ID, "move")
		ts.requireCounters(t, c.ID, counts{2, 4, 3})
		ts.moderate(t, author, c.ID, o2.ID, "hide")
		ts.requireCounters(t, c.ID, counts{2, 4, 3})
		ts.unmoderate(t, author, c.ID, o2.ID)
		ts.requireCounters(t, c.ID, counts{3, 5, 3})
	})

	t.Run("a plain participant may not moderate", func(t *testing.T) {
		body := map[string]string{"action": "hide", "reason": "spam"}
		requireProblem(t, ts.do(t, "PUT", opinionPath(c.ID, o3.ID)+"/moderation", plain, body), 403, "forbidden")
		requireProblem(t, ts.do(t, "PUT", opinionPath(c.ID, o1.ID)+"/moderation", voter, body), 403, "forbidden")
		requireProblem(t, ts.do(t, "DELETE", opinionPath(c.ID, o3.ID)+"/moderation", plain, nil), 403, "forbidden")
		requireProblem(t, ts.do(t, "PUT", opinionPath(c.ID, o3.ID)+"/moderation", "", body), 401, "unauthenticated")
		ts.requireCounters(t, c.ID, counts{3, 5, 3})
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"an unknown action is refused", map[string]string{"action": "delete", "reason": "spam"}},
		{"a missing action is refused", map[string]string{"reason": "spam"}},
		{"an unknown reason is refused", map[string]string{"action": "move", "reason": "x"}},
		{"a missing reason is refused", map[string]string{"action": "move"}},
		{"an explanation of 1001 characters is refused", map[string]string{"action": "move", "reason": "spam", "explanation": strings.Repeat("e", 1001)}},
	} {
		t.Run("moderating: "+tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "PUT", opinionPath(c.ID, o3.ID)+"/moderation", author, tc.body), 400, "invalid_input")
		})
	}
	t.Run("moderating an unknown opinion is 404", func(t *testing.T) {
		requireProblem(t, ts.do(t, "PUT", opinionPath(c.ID, "unknownOp")+"/moderation", author,
			map[string]string{"action": "move", "reason": "spam"}), 404, "not_found")
		requireProblem(t, ts.do(t, "DELETE", opinionPath(c.ID, "unknownOp")+"/moderation", author, nil), 404, "not_found")
	})

	t.Run("the author of a conversation moderates only that conversation", func(t *testing.T) {
		other := ts.createConversation(t, plain, nil)
		oo := ts.createOpinion(t, plain, other.ID, "x")
		requireProblem(t, ts.do(t, "PUT", opinionPath(other.ID, oo.ID)+"/moderation", author,
			map[string]string{"action": "move", "reason": "spam"}), 403, "forbidden")
		requireProblem(t, ts.do(t, "PUT", convPath(other.ID)+"/lock", author, map[string]string{"reason": "spam"}), 403, "forbidden")
	})
}

// requireOpinionIDs checks a listing's opinions, in order.
func requireOpinionIDs(t *testing.T, got []opinionJSON, want ...string) {
	t.Helper()
	ids := []string{}
	for _, o := range got {
		ids = append(ids, o.ID)
	}
	if !slices.Equal(ids, append([]string{}, want...)) {
		t.Fatalf("listed %v, want %v", ids, want)
	}
}

func TestE2ENext(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, author := ts.newParticipant(t)
	_, voter := ts.newParticipant(t)
	c := ts.createConversation(t, author, map[string]any{"title": "next", "seed_opinions": []string{"a", "b", "c", "d", "e", "f"}})
	seeds := ts.opinions(t, "", c.ID, "new")
	ts.vote(t, voter, c.ID, seeds[0].ID, "agree")
	ts.vote(t, voter, c.ID, seeds[1].ID, "pass")
	ts.cancelVote(t, voter, c.ID, seeds[1].ID) // cancelled: may come again
	ts.moderate(t, author, c.ID, seeds[2].ID, "move")
	ts.moderate(t, author, c.ID, seeds[3].ID, "hide")
	mine := ts.createOpinion(t, voter, c.ID, "my own opinion, which I agree with")

	t.Run("next draws only unvoted visible opinions", func(t *testing.T) {
		allowed := map[string]bool{seeds[1].ID: true, seeds[4].ID: true, seeds[5].ID: true}
		seen := map[string]bool{}
		for range 60 {
			r := ts.do(t, "GET", convPath(c.ID)+"/next", voter, nil)
			o := expect[opinionJSON](t, r, http.StatusOK)
			if !allowed[o.ID] || o.Status != "visible" {
				t.Fatalf("next drew %+v, want one of %v (not %s)", o, allowed, mine.ID)
			}
			seen[o.ID] = true
		}
		if len(seen) < 2 {
			t.Fatalf("60 draws saw only %v", seen)
		}
	})

	t.Run("next is 204 when nothing is left", func(t *testing.T) {
		for _, o := range []string{seeds[1].ID, seeds[4].ID, seeds[5].ID} {
			ts.vote(t, voter, c.ID, o, "disagree")
		}
		r := ts.do(t, "GET", convPath(c.ID)+"/next", voter, nil)
		requireStatus(t, r, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Fatalf("a 204 with a body: %q", r.Body)
		}
		ts.unmoderate(t, author, c.ID, seeds[2].ID)
		if o := expect[opinionJSON](t, ts.do(t, "GET", convPath(c.ID)+"/next", voter, nil), http.StatusOK); o.ID != seeds[2].ID {
			t.Fatalf("next drew %s, want the opinion whose moderation was withdrawn", o.ID)
		}
	})

	t.Run("a newcomer may draw any visible opinion", func(t *testing.T) {
		_, newcomer := ts.newParticipant(t)
		o := expect[opinionJSON](t, ts.do(t, "GET", convPath(c.ID)+"/next", newcomer, nil), http.StatusOK)
		if o.ID == seeds[3].ID {
			t.Fatalf("next drew a hidden opinion")
		}
	})

	t.Run("next needs a participant and a known conversation", func(t *testing.T) {
		requireProblem(t, ts.do(t, "GET", convPath(c.ID)+"/next", "", nil), 401, "unauthenticated")
		requireProblem(t, ts.do(t, "GET", convPath(c.ID)+"/next", testAdminToken, nil), 403, "forbidden")
		requireProblem(t, ts.do(t, "GET", convPath("unknownConv")+"/next", voter, nil), 404, "not_found")
	})
}

// TestE2ECounters runs a script of writes of every kind and checks after
// each one the counters against the test's own model and against a
// recount of the store, and that last_reacted_at advances exactly on the
// writes that change opinions or votes.
func TestE2ECounters(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	ids := map[string]string{}    // name -> participant id
	tokens := map[string]string{} // name -> token
	for _, name := range []string{"A", "B", "C", "D"} {
		ids[name], tokens[name] = ts.newParticipant(t)
	}
	model := newVoteModel()
	c := ts.createConversation(t, tokens["A"], map[string]any{"title": "counters", "seed_opinions": []string{"s1", "s2"}})
	op := map[string]string{} // name -> opinion id
	for _, o := range ts.opinions(t, "", c.ID, "new") {
		op[o.Text] = o.ID
		model.addOpinion(o.ID, ids["A"], false)
	}
	ts.requireCounters(t, c.ID, counts{2, 0, 0})

	post := func(who, name string) func(t *testing.T) bool {
		return func(t *testing.T) bool {
			o := ts.createOpinion(t, tokens[who], c.ID, name)
			op[name] = o.ID
			model.addOpinion(o.ID, ids[who], true)
			return true
		}
	}
	vote := func(who, name, v string) func(t *testing.T) bool {
		return func(t *testing.T) bool {
			want := model.vote(ids[who], op[name], v)
			if got := ts.vote(t, tokens[who], c.ID, op[name], v); got.Changed != want {
				t.Fatalf("changed = %v, want %v", got.Changed, want)
			}
			return want
		}
	}
	cancel := func(who, name string) func(t *testing.T) bool {
		return func(t *testing.T) bool {
			ts.cancelVote(t, tokens[who], c.ID, op[name])
			return model.cancel(ids[who], op[name])
		}
	}
	moderate := func(name, action string) func(t *testing.T) bool {
		return func(t *testing.T) bool {
			if action == "withdraw" {
				ts.unmoderate(t, tokens["A"], c.ID, op[name])
				model.status[op[name]] = "visible"
			} else {
				model.status[op[name]] = ts.moderate(t, tokens["A"], c.ID, op[name], action).Status
			}
			return false
		}
	}
	tokens["admin"] = testAdminToken
	remove := func(who, name string) func(t *testing.T) bool {
		return func(t *testing.T) bool {
			requireStatus(t, ts.do(t, "DELETE", opinionPath(c.ID, op[name]), tokens[who], nil), http.StatusNoContent)
			model.status[op[name]] = "deleted"
			return false
		}
	}
	lockUnlock := func(t *testing.T) bool {
		ts.lock(t, tokens["A"], c.ID)
		ts.unlock(t, tokens["A"], c.ID)
		return false
	}

	last := c.LastReactedAt
	for _, step := range []struct {
		name  string
		write func(t *testing.T) bool // reports whether last_reacted_at must advance
	}{
		{"B posts o1", post("B", "o1")},
		{"C agrees with o1", vote("C", "o1", "agree")},
		{"C agrees with o1 again", vote("C", "o1", "agree")},
		{"C disagrees with s1", vote("C", "s1", "disagree")},
		{"C changes to pass on s1", vote("C", "s1", "pass")},
		{"D passes on s1", vote("D", "s1", "pass")},
		{"D cancels on s1", cancel("D", "s1")},
		{"D cancels on s1 again", cancel("D", "s1")},
		{"D cancels a vote never cast", cancel("D", "o1")},
		{"D agrees with s2", vote("D", "s2", "agree")},
		{"A moves s2, D's only vote", moderate("s2", "move")},
		{"D changes the vote on moved s2 is refused, nothing changes", func(t *testing.T) bool {
			requireProblem(t, ts.do(t, "PUT", votePath(c.ID, op["s2"]), tokens["D"], map[string]string{"vote": "pass"}), 409, "opinion_moderated")
			return false
		}},
		{"A hides o1", moderate("o1", "hide")},
		{"A hides s2 instead of moving it", moderate("s2", "hide")},
		{"A withdraws the moderation of s2", moderate("s2", "withdraw")},
		{"B deletes hidden o1", remove("B", "o1")},
		{"C posts o2", post("C", "o2")},
		{"B agrees with o2", vote("B", "o2", "agree")},
		{"B disagrees with o2", vote("B", "o2", "disagree")},
		{"A deletes s1 with C's pass", remove("A", "s1")},
		{"A locks and unlocks", lockUnlock},
		{"A moves o2", moderate("o2", "move")},
		{"the admin deletes moved o2", remove("admin", "o2")},
		{"B passes on s2", vote("B", "s2", "pass")},
		{"B cancels on s2", cancel("B", "s2")},
		{"D cancels on s2", cancel("D", "s2")},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := time.Now().UTC().Truncate(time.Microsecond)
			advances := step.write(t)
			after := time.Now().UTC()
			got := ts.requireCounters(t, c.ID, model.counts())
			switch {
			case advances && (!got.LastReactedAt.After(last) || got.LastReactedAt.Before(before) || got.LastReactedAt.After(after)):
				t.Fatalf("last_reacted_at %v, want a time between %v and %v, after %v", got.LastReactedAt, before, after, last)
			case !advances && !got.LastReactedAt.Equal(last):
				t.Fatalf("last_reacted_at moved from %v to %v on a write that changed no opinion or vote", last, got.LastReactedAt)
			}
			last = got.LastReactedAt
			for name, oid := range op {
				if model.status[oid] == "deleted" {
					continue
				}
				o := ts.opinion(t, testAdminToken, c.ID, oid)
				if o.Status != model.status[oid] || o.tallyJSON != model.tally(oid) {
					t.Fatalf("opinion %s: status %s tally %+v, want %s %+v", name, o.Status, o.tallyJSON, model.status[oid], model.tally(oid))
				}
			}
			for who, tok := range tokens {
				if who == "admin" {
					continue
				}
				if got, want := ts.myVotes(t, tok, c.ID), model.myVotes(ids[who]); !maps.Equal(got, want) {
					t.Fatalf("votes/me of %s = %v, want %v", who, got, want)
				}
			}
		})
	}
}

// TestE2EConcurrentVoting has many participants vote, change and cancel at
// once on one conversation; afterwards the counters equal the test's model
// of the final state and the store's recount, and no request got a 5xx.
func TestE2EConcurrentVoting(t *testing.T) {
	t.Parallel()
	const participants, writes, seeds = 50, 20, 12
	ts := MustOpenServer(t)
	authorID, author := ts.newParticipant(t)
	texts := []string{}
	for i := range seeds {
		texts = append(texts, fmt.Sprintf("seed %d", i))
	}
	c := ts.createConversation(t, author, map[string]any{"title": "busy", "seed_opinions": texts})
	var seedIDs []string
	for _, o := range ts.opinions(t, "", c.ID, "new") {
		seedIDs = append(seedIDs, o.ID)
	}
	type voter struct {
		id, token string
		votes     map[string]string // the final votes, by opinion
		posted    string            // the opinion it posted, with its agree vote
	}
	voters := make([]*voter, participants)
	for i := range voters {
		id, token := ts.newParticipant(t)
		voters[i] = &voter{id: id, token: token, votes: map[string]string{}}
	}

	var wg sync.WaitGroup
	for i, v := range voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			postAt := rng.IntN(writes)
			for w := range writes {
				if w == postAt {
					r := ts.do(t, "POST", opinionsPath(c.ID), v.token, map[string]string{"text": fmt.Sprintf("posted by %d", i)})
					var o opinionJSON
					if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &o) != nil {
						t.Errorf("post: %s", r)
						return
					}
					v.posted, v.votes[o.ID] = o.ID, "agree"
					continue
				}
				oid := seedIDs[rng.IntN(len(seedIDs))]
				if rng.IntN(4) == 0 {
					r := ts.do(t, "DELETE", votePath(c.ID, oid), v.token, nil)
					if r.Status != http.StatusNoContent {
						t.Errorf("cancel: %s", r)
						return
					}
					delete(v.votes, oid)
					continue
				}
				vote := []string{"agree", "disagree", "pass"}[rng.IntN(3)]
				r := ts.do(t, "PUT", votePath(c.ID, oid), v.token, map[string]string{"vote": vote})
				var res voteResultJSON
				if r.Status != http.StatusOK || json.Unmarshal(r.Body, &res) != nil {
					t.Errorf("vote: %s", r)
					return
				}
				if want := v.votes[oid] != vote; res.Changed != want {
					t.Errorf("participant %d, vote %s on %s: changed=%v, want %v", i, vote, oid, res.Changed, want)
				}
				v.votes[oid] = vote
			}
		}()
	}
	// Readers run alongside the writers.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := ts.do(t, "GET", convPath(c.ID), "", nil); r.Status != http.StatusOK {
					t.Errorf("read: %s", r)
					return
				}
				if r := ts.do(t, "GET", opinionsPath(c.ID)+"?limit=10", "", nil); r.Status != http.StatusOK {
					t.Errorf("list: %s", r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		t.FailNow()
	}

	model := newVoteModel()
	for _, oid := range seedIDs {
		model.addOpinion(oid, authorID, false)
	}
	for _, v := range voters {
		if v.posted != "" {
			model.addOpinion(v.posted, v.id, false)
		}
		for oid, vote := range v.votes {
			model.vote(v.id, oid, vote)
		}
	}
	want := model.counts()
	ts.requireCounters(t, c.ID, want)
	t.Logf("final counters %v", want)

	all := ts.opinions(t, "", c.ID, "new")
	if len(all) != want.opinions {
		t.Fatalf("%d opinions listed, want %d", len(all), want.opinions)
	}
	for _, o := range all {
		if o.tallyJSON != model.tally(o.ID) {
			t.Fatalf("opinion %s: tally %+v, want %+v", o.ID, o.tallyJSON, model.tally(o.ID))
		}
	}
	for i, v := range voters {
		if got := ts.myVotes(t, v.token, c.ID); !maps.Equal(got, v.votes) {
			t.Fatalf("votes/me of participant %d = %v, want %v", i, got, v.votes)
		}
	}
	st := expect[actorStateJSON](t, ts.do(t, "GET", "/admin/conversations/"+c.ID+"/state", testAdminToken, nil), http.StatusOK)
	if st.Opinions != want.opinions || st.Votes != want.votes || st.Participants != want.participants || st.PendingWrites != 0 {
		t.Fatalf("actor state %+v, want %v and nothing pending", st, want)
	}
	// The counters survive a reload from the store.
	requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
	ts.requireCounters(t, c.ID, want)
}

func TestE2EAdmin(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	pid, participant := ts.newParticipant(t)
	c := ts.createConversation(t, participant, map[string]any{"title": "admin", "seed_opinions": []string{"a", "b"}})
	o := ts.createOpinion(t, participant, c.ID, "mine")
	_, voter := ts.newParticipant(t)
	ts.vote(t, voter, c.ID, o.ID, "disagree")
	want := counts{3, 2, 2}
	ts.requireCounters(t, c.ID, want)
	statePath := "/admin/conversations/" + c.ID + "/state"

	t.Run("every admin endpoint needs the admin token", func(t *testing.T) {
		for _, rq := range []request{
			{method: "GET", path: "/admin/actors"},
			{method: "GET", path: statePath},
			{method: "POST", path: "/admin/conversations/" + c.ID + "/passivate"},
			{method: "GET", path: "/admin/cluster"},
			{method: "PUT", path: "/admin/participants/" + pid + "/role", body: map[string]string{"role": "moderator"}},
		} {
			t.Run(rq.method+" "+rq.path, func(t *testing.T) {
				requireProblem(t, ts.send(t, rq), 401, "unauthenticated")
				rq.header = map[string]string{"Authorization": "Token " + testAdminToken}
				requireProblem(t, ts.send(t, rq), 401, "unauthenticated")
				rq.header = nil
				rq.token = participant
				requireProblem(t, ts.send(t, rq), 403, "forbidden")
				rq.token = "not-the-admin-token" // unknown: 401, as on every endpoint
				requireProblem(t, ts.send(t, rq), 401, "unauthenticated")
			})
		}
		if me := expect[participantJSON](t, ts.do(t, "GET", "/v1/participants/me", participant, nil), http.StatusOK); me.Role != "participant" {
			t.Fatalf("a refused role change was applied: %+v", me)
		}
	})

	var state actorStateJSON
	t.Run("state describes the conversation's actor", func(t *testing.T) {
		r := ts.do(t, "GET", statePath, testAdminToken, nil)
		requireKeys(t, "state", r.object(t), "conversation_id", "opinions", "votes", "participants", "pending_writes",
			"mailbox", "last_active_at", "analysis_votes", "epoch", "streams", "locked", "owner")
		state = expect[actorStateJSON](t, r, http.StatusOK)
		if state.ConversationID != c.ID || state.Opinions != want.opinions || state.Votes != want.votes ||
			state.Participants != want.participants || state.PendingWrites != 0 || state.Locked == nil || *state.Locked ||
			state.Owner != testNodeName || state.LastActiveAt.IsZero() {
			t.Fatalf("state = %s", r.Body)
		}
		ts.lock(t, participant, c.ID)
		if st := expect[actorStateJSON](t, ts.do(t, "GET", statePath, testAdminToken, nil), http.StatusOK); st.Locked == nil || !*st.Locked {
			t.Fatalf("the state of a locked conversation shows locked=%v", st.Locked)
		}
		ts.unlock(t, participant, c.ID)
		requireProblem(t, ts.do(t, "GET", "/admin/conversations/unknownConv/state", testAdminToken, nil), 404, "not_found")
		requireProblem(t, ts.do(t, "GET", "/admin/conversations/bad$id/state", testAdminToken, nil), 400, "invalid_input")
	})

	t.Run("actors lists the live actors of the node", func(t *testing.T) {
		r := ts.do(t, "GET", "/admin/actors", testAdminToken, nil)
		obj := r.object(t)
		requireKeys(t, "actors", obj, "node", "actors")
		list := expect[struct {
			Node   string           `json:"node"`
			Actors []actorStateJSON `json:"actors"`
		}](t, r, http.StatusOK)
		if list.Node != testNodeName {
			t.Fatalf("node %q, want %q", list.Node, testNodeName)
		}
		found := false
		for i, a := range list.Actors {
			requireKeys(t, "actor", obj["actors"].([]any)[i].(map[string]any), "conversation_id", "opinions", "votes",
				"participants", "pending_writes", "mailbox", "last_active_at", "analysis_votes", "epoch", "streams")
			if a.ConversationID == c.ID {
				found = true
				if a.Opinions != want.opinions || a.Votes != want.votes || a.Participants != want.participants {
					t.Fatalf("actor %+v, want %v", a, want)
				}
			}
		}
		if !found {
			t.Fatalf("the active conversation %s is not listed: %s", c.ID, r.Body)
		}
	})

	t.Run("a passivated conversation comes back with identical counters", func(t *testing.T) {
		before := ts.conversation(t, c.ID)
		r := ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil)
		requireStatus(t, r, http.StatusNoContent)
		// Passivating what is not live does nothing; what does not exist is 404.
		requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
		requireProblem(t, ts.do(t, "POST", "/admin/conversations/unknownConv/passivate", testAdminToken, nil), 404, "not_found")
		list := expect[struct {
			Actors []actorStateJSON `json:"actors"`
		}](t, ts.do(t, "GET", "/admin/actors", testAdminToken, nil), http.StatusOK)
		for _, a := range list.Actors {
			if a.ConversationID == c.ID {
				t.Fatalf("a passivated conversation is still listed as live: %+v", a)
			}
		}
		st := expect[actorStateJSON](t, ts.do(t, "GET", statePath, testAdminToken, nil), http.StatusOK)
		if st.Opinions != state.Opinions || st.Votes != state.Votes || st.Participants != state.Participants || *st.Locked {
			t.Fatalf("state after reactivation %+v, before %+v", st, state)
		}
		if after := ts.requireCounters(t, c.ID, want); !reflect.DeepEqual(after, before) {
			t.Fatalf("after reactivation %+v, before %+v", after, before)
		}
		if v := ts.myVotes(t, voter, c.ID); !maps.Equal(v, map[string]string{o.ID: "disagree"}) {
			t.Fatalf("votes/me after reactivation = %v", v)
		}
		// Passivating twice, or a conversation without an actor, is harmless.
		requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
		requireStatus(t, ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil), http.StatusNoContent)
		ts.requireCounters(t, c.ID, want)
	})

	t.Run("cluster describes this single node", func(t *testing.T) {
		r := ts.do(t, "GET", "/admin/cluster", testAdminToken, nil)
		obj := r.object(t)
		requireKeys(t, "cluster", obj, "self", "members")
		cl := expect[struct {
			Self    string `json:"self"`
			Members []struct {
				Name       string `json:"name"`
				GossipAddr string `json:"gossip_addr"`
				HTTPAddr   string `json:"http_addr"`
				State      string `json:"state"`
			} `json:"members"`
		}](t, r, http.StatusOK)
		if cl.Self != testNodeName || len(cl.Members) != 1 || cl.Members[0].Name != testNodeName ||
			cl.Members[0].HTTPAddr != ts.HTTP.Addr() || cl.Members[0].State == "" {
			t.Fatalf("cluster = %s", r.Body)
		}
		requireKeys(t, "member", obj["members"].([]any)[0].(map[string]any), "name", "gossip_addr", "http_addr", "state")
	})

	t.Run("roles are set by the admin and take effect at once", func(t *testing.T) {
		modID, moderator := ts.newParticipant(t)
		requireProblem(t, ts.do(t, "PUT", convPath(c.ID)+"/lock", moderator, map[string]string{"reason": "spam"}), 403, "forbidden")
		r := ts.do(t, "PUT", "/admin/participants/"+modID+"/role", testAdminToken, map[string]string{"role": "moderator"})
		p := expect[participantJSON](t, r, http.StatusOK)
		if p.ParticipantID != modID || p.Role != "moderator" {
			t.Fatalf("role change answered %s", r.Body)
		}
		if me := expect[participantJSON](t, ts.do(t, "GET", "/v1/participants/me", moderator, nil), http.StatusOK); me.Role != "moderator" {
			t.Fatalf("/me = %+v", me)
		}
		ts.lock(t, moderator, c.ID)
		ts.unlock(t, moderator, c.ID)
		ts.setRole(t, modID, "moderator") // idempotent
		ts.setRole(t, modID, "participant")
		requireProblem(t, ts.do(t, "PUT", convPath(c.ID)+"/lock", moderator, map[string]string{"reason": "spam"}), 403, "forbidden")
	})

	for _, tc := range []struct {
		name, pid string
		body      any
		status    int
		code      string
	}{
		{"an unknown role is refused", pid, map[string]string{"role": "admin"}, 400, "invalid_input"},
		{"a missing role is refused", pid, map[string]string{}, 400, "invalid_input"},
		{"a numeric role is refused", pid, map[string]int{"role": 1}, 400, "invalid_input"},
		{"a malformed participant id is refused", "bad$pid", map[string]string{"role": "moderator"}, 400, "invalid_input"},
		{"an unknown participant is 404", "unknownPerson", map[string]string{"role": "moderator"}, 404, "not_found"},
	} {
		t.Run("role: "+tc.name, func(t *testing.T) {
			requireProblem(t, ts.do(t, "PUT", "/admin/participants/"+tc.pid+"/role", testAdminToken, tc.body), tc.status, tc.code)
		})
	}
}

func TestE2EOperations(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	t.Run("a single node has no internal forwarding route", func(t *testing.T) {
		r := ts.send(t, request{method: "POST", path: "/internal/forward", body: []byte{0x80}, contentType: "application/msgpack"})
		if r.Status != http.StatusNotFound {
			t.Fatalf("%s: want 404", r)
		}
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		t.Run(path+" answers 200", func(t *testing.T) {
			requireStatus(t, ts.do(t, "GET", path, "", nil), http.StatusOK)
			// Load balancers probe with HEAD: the same answer without a body.
			if r := ts.do(t, "HEAD", path, "", nil); r.Status != http.StatusOK || len(r.Body) != 0 {
				t.Fatalf("HEAD %s: %s", path, r)
			}
		})
	}
	t.Run("/openapi.yaml serves the specification", func(t *testing.T) {
		r := ts.do(t, "GET", "/openapi.yaml", "", nil)
		requireStatus(t, r, http.StatusOK)
		if !strings.Contains(string(r.Body), "openapi:") {
			t.Fatalf("/openapi.yaml does not look like OpenAPI: %.200s", r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "yaml") {
			t.Fatalf("Content-Type %q", ct)
		}
	})

	t.Run("a draining node is not ready", func(t *testing.T) {
		t.Cleanup(func() { ts.Close(t) })
		ts.HTTP.SetDraining()
		r := ts.send(t, request{method: "GET", path: "/readyz", allow5xx: true})
		requireProblem(t, r, 503, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: no Retry-After", r)
		}
		requireStatus(t, ts.do(t, "GET", "/healthz", "", nil), http.StatusOK)
	})
}

// TestE2EProtocol covers what every endpoint shares: routing errors, limits
// on headers, idempotency keys and rate limits.
func TestE2EProtocol(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	_, token := ts.newParticipant(t)
	c := ts.createConversation(t, token, nil)

	t.Run("HEAD answers as GET does, without the body", func(t *testing.T) {
		for _, path := range []string{"/v1/conversations", "/v1/conversations/" + c.ID, opinionsPath(c.ID), "/healthz", "/openapi.yaml"} {
			get, head := ts.do(t, "GET", path, token, nil), ts.do(t, "HEAD", path, token, nil)
			if head.Status != get.Status || len(head.Body) != 0 || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") ||
				head.Header.Get("Content-Length") != fmt.Sprint(len(get.Body)) {
				t.Errorf("HEAD %s: %d, %d bytes, %q, Content-Length %q; GET: %d, %d bytes, %q", path, head.Status, len(head.Body),
					head.Header.Get("Content-Type"), head.Header.Get("Content-Length"), get.Status, len(get.Body), get.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("an unknown path is a 404 problem", func(t *testing.T) {
		for _, path := range []string{"/", "/v2/conversations", "/v1/conversations/" + c.ID + "/nope", "/v1/conversations/"} {
			requireProblem(t, ts.do(t, "GET", path, "", nil), 404, "not_found")
		}
	})

	t.Run("a method the path does not support is a 405 problem with Allow", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			allow        []string
		}{
			{"PATCH", "/v1/conversations", []string{"GET", "HEAD", "POST"}},
			{"PUT", convPath(c.ID), []string{"GET", "HEAD", "DELETE"}},
			{"POST", votePath(c.ID, "someOpinion"), []string{"PUT", "DELETE"}},
			{"DELETE", "/healthz", []string{"GET", "HEAD"}},
			{"GET", "/v1/participants", []string{"POST"}},
			{"OPTIONS", "/v1/conversations", []string{"GET", "HEAD", "POST"}},
			{"HEAD", "/v1/conversations/" + c.ID + "/events", []string{"GET"}}, // the stream is GET alone
		} {
			r := ts.do(t, tc.method, tc.path, token, nil)
			if tc.method == "HEAD" {
				requireStatus(t, r, 405)
			} else {
				requireProblem(t, r, 405, "method_not_allowed")
			}
			allow := strings.Split(strings.ReplaceAll(r.Header.Get("Allow"), " ", ""), ",")
			slices.Sort(allow)
			slices.Sort(tc.allow)
			if !slices.Equal(allow, tc.allow) {
				t.Fatalf("%s %s: Allow %q, want %v", tc.method, tc.path, r.Header.Get("Allow"), tc.allow)
			}
		}
	})

	t.Run("request headers over 16 KiB are refused", func(t *testing.T) {
		r := ts.send(t, request{method: "GET", path: convPath(c.ID), header: map[string]string{"X-Padding": strings.Repeat("p", 20<<10)}})
		if r.Status != http.StatusRequestHeaderFieldsTooLarge && r.Status != http.StatusBadRequest {
			t.Fatalf("%s: want 431 or 400", r)
		}
		if r.Status == http.StatusRequestHeaderFieldsTooLarge {
			requireProblem(t, r, 431, "invalid_input")
		}
		// The server still serves, and headers of 12 KiB are fine.
		r = ts.send(t, request{method: "GET", path: convPath(c.ID), header: map[string]string{"X-Padding": strings.Repeat("p", 12<<10)}})
		requireStatus(t, r, http.StatusOK)
	})

	t.Run("a body just under 64 KiB is accepted and a chunked one over it refused", func(t *testing.T) {
		body := map[string]string{"title": "padded", "padding": strings.Repeat("p", 60<<10)}
		requireStatus(t, ts.do(t, "POST", "/v1/conversations", token, body), http.StatusCreated)
		raw, _ := json.Marshal(map[string]string{"title": "padded", "padding": strings.Repeat("p", 70<<10)})
		r := ts.send(t, request{method: "POST", path: "/v1/conversations", token: token, body: io.MultiReader(bytes.NewReader(raw))})
		requireProblem(t, r, 413, "too_large")
	})

	t.Run("a declared body of 1 MiB is refused before it is sent", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.HTTP.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "POST /v1/conversations HTTP/1.1\r\nHost: agora\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", token, 1<<20)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		requireProblem(t, &response{method: "POST", path: "/v1/conversations", Status: res.StatusCode, Header: res.Header, Body: body}, 413, "too_large")
	})

	t.Run("an Idempotency-Key makes a retried opinion post create one opinion", func(t *testing.T) {
		before := ts.conversation(t, c.ID).OpinionCount
		post := func(tok, key, text string) *response {
			return ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: tok, body: map[string]string{"text": text},
				header: map[string]string{"Idempotency-Key": key}})
		}
		first := post(token, "key-1", "once")
		requireStatus(t, first, http.StatusCreated)
		again := post(token, "key-1", "once")
		requireStatus(t, again, http.StatusCreated)
		if string(again.Body) != string(first.Body) {
			t.Fatalf("the retry answered %s, the first %s", again.Body, first.Body)
		}
		ts.requireCounters(t, c.ID, counts{before + 1, before + 1, 1})
		// Another key, or another participant with the same key, creates anew.
		requireStatus(t, post(token, "key-2", "twice"), http.StatusCreated)
		_, other := ts.newParticipant(t)
		o := expect[opinionJSON](t, post(other, "key-1", "by another"), http.StatusCreated)
		if o.Text != "by another" {
			t.Fatalf("another participant's key replayed %+v", o)
		}
		ts.requireCounters(t, c.ID, counts{before + 3, before + 3, 2})
	})

	t.Run("concurrent requests with one Idempotency-Key create one opinion", func(t *testing.T) {
		before := ts.conversation(t, c.ID)
		var wg sync.WaitGroup
		bodies := make([]string, 8)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "raced"},
					header: map[string]string{"Idempotency-Key": "raced-key"}})
				if r.Status != http.StatusCreated {
					t.Errorf("%s", r)
				}
				bodies[i] = string(r.Body)
			}()
		}
		wg.Wait()
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Fatalf("answers differ: %s and %s", b, bodies[0])
			}
		}
		ts.requireCounters(t, c.ID, counts{before.OpinionCount + 1, before.VoteCount + 1, before.ParticipantCount})
	})

	t.Run("an Idempotency-Key is scoped to its endpoint", func(t *testing.T) {
		other := ts.createConversation(t, token, nil)
		key := map[string]string{"Idempotency-Key": "scoped"}
		r1 := ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "in c"}, header: key})
		r2 := ts.send(t, request{method: "POST", path: opinionsPath(other.ID), token: token, body: map[string]string{"text": "in other"}, header: key})
		r3 := ts.send(t, request{method: "POST", path: "/v1/conversations", token: token, body: map[string]string{"title": "new"}, header: key})
		if o := expect[opinionJSON](t, r2, http.StatusCreated); o.ConversationID != other.ID || o.Text != "in other" {
			t.Fatalf("a key used on another conversation replayed %s", r2.Body)
		}
		if cv := expect[conversationJSON](t, r3, http.StatusCreated); cv.Title != "new" {
			t.Fatalf("a key used on another endpoint replayed %s", r3.Body)
		}
		requireStatus(t, r1, http.StatusCreated)
	})

	t.Run("an Idempotency-Key makes a retried conversation creation create one", func(t *testing.T) {
		rq := request{method: "POST", path: "/v1/conversations", token: token, body: map[string]string{"title": "idempotent"},
			header: map[string]string{"Idempotency-Key": "conversation-key"}}
		first := expect[conversationJSON](t, ts.send(t, rq), http.StatusCreated)
		again := expect[conversationJSON](t, ts.send(t, rq), http.StatusCreated)
		if again.ID != first.ID {
			t.Fatalf("the retry created %s, the first %s", again.ID, first.ID)
		}
		n := 0
		for _, id := range listIDs(t, ts, "new") {
			if cv := ts.conversation(t, id); cv.Title == "idempotent" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d conversations created", n)
		}
	})

	t.Run("an empty Idempotency-Key is refused", func(t *testing.T) {
		before := ts.conversation(t, c.ID)
		r := ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "x"},
			header: map[string]string{"Idempotency-Key": ""}})
		requireProblem(t, r, 400, "invalid_input")
		ts.requireCounters(t, c.ID, counts{before.OpinionCount, before.VoteCount, before.ParticipantCount})
	})

	t.Run("an Idempotency-Key over 64 characters is refused", func(t *testing.T) {
		before := ts.conversation(t, c.ID)
		for _, path := range []string{opinionsPath(c.ID), "/v1/conversations"} {
			r := ts.send(t, request{method: "POST", path: path, token: token, body: map[string]string{"text": "x", "title": "x"},
				header: map[string]string{"Idempotency-Key": strings.Repeat("k", 65)}})
			requireProblem(t, r, 400, "invalid_input")
		}
		requireProblem(t, ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "x"},
			header: map[string]string{"Idempotency-Key": strings.Repeat("é", 65)}}), 400, "invalid_input")
		// Characters, not bytes: 64 two-byte characters are a valid key.
		for _, key := range []string{strings.Repeat("k", 64), strings.Repeat("é", 64)} {
			r := ts.send(t, request{method: "POST", path: opinionsPath(c.ID), token: token, body: map[string]string{"text": "x"},
				header: map[string]string{"Idempotency-Key": key}})
			requireStatus(t, r, http.StatusCreated)
		}
		ts.requireCounters(t, c.ID, counts{before.OpinionCount + 2, before.VoteCount + 2, before.ParticipantCount})
	})
}

func TestE2ERateLimit(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t, WithRateLimit(1))
	_, token := ts.newParticipant(t)
	_, author := ts.newParticipant(t)
	c := ts.createConversation(t, author, nil)

	created, limited := 0, 0
	for i := range 10 {
		r := ts.do(t, "POST", opinionsPath(c.ID), token, map[string]string{"text": fmt.Sprintf("burst %d", i)})
		switch r.Status {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			limited++
			requireProblem(t, r, 429, "rate_limited")
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("%s: Retry-After %q, want a positive number of seconds", r, r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("%s: want 201 or 429", r)
		}
	}
	if limited == 0 || created < 2 || created > 3 {
		t.Fatalf("a burst of 10 writes at 1/s (burst 2): %d created, %d limited", created, limited)
	}
	// The refused writes were not applied; reads, other participants and
	// the admin are not limited.
	ts.requireCounters(t, c.ID, counts{created, created, 1})
	ts.opinions(t, token, c.ID, "new")
	requireStatus(t, ts.do(t, "GET", "/v1/participants/me", token, nil), http.StatusOK)
	ts.createOpinion(t, author, c.ID, "the author is not limited")
	for range 5 {
		ts.lock(t, testAdminToken, c.ID)
		ts.unlock(t, testAdminToken, c.ID)
	}
}

// TestE2ERestart closes a node and opens another on the same store:
// everything it acknowledged is there, identical.
func TestE2ERestart(t *testing.T) {
	t.Parallel()
	ts := MustOpenServer(t)
	authorID, author := ts.newParticipant(t)
	modID, moderator := ts.newParticipant(t)
	ts.setRole(t, modID, "moderator")
	_, voter := ts.newParticipant(t)
	tokens := []string{author, moderator, voter}

	open := ts.createConversation(t, author, map[string]any{"title": "open", "body": "b", "seed_opinions": []string{"s1", "s2", "s3"}})
	locked := ts.createConversation(t, author, map[string]any{"title": "locked", "is_indexed": false})
	seeds := ts.opinions(t, "", open.ID, "new")
	o := ts.createOpinion(t, voter, open.ID, "voter's")
	ts.vote(t, voter, open.ID, seeds[0].ID, "disagree")
	ts.vote(t, voter, open.ID, seeds[1].ID, "pass")
	ts.vote(t, voter, open.ID, seeds[1].ID, "agree")
	ts.vote(t, moderator, open.ID, seeds[2].ID, "pass")
	ts.vote(t, moderator, open.ID, o.ID, "disagree")
	ts.cancelVote(t, moderator, open.ID, o.ID)
	ts.moderate(t, moderator, open.ID, seeds[0].ID, "move")
	ts.moderate(t, author, open.ID, seeds[2].ID, "hide")
	gone := ts.createOpinion(t, author, open.ID, "to delete")
	requireStatus(t, ts.do(t, "DELETE", opinionPath(open.ID, gone.ID), author, nil), http.StatusNoContent)
	lo := ts.createOpinion(t, voter, locked.ID, "before the lock")
	ts.lock(t, author, locked.ID)
	deleted := ts.createConversation(t, author, map[string]any{"title": "deleted", "seed_opinions": []string{"x"}})
	requireStatus(t, ts.do(t, "DELETE", convPath(deleted.ID), author, nil), http.StatusNoContent)
	// Texts that stores like to mangle: NUL, control characters, astral
	// characters, quotes, SQL.
	oddText := `nul\u0000 tab\t cr\r \"quoted\" 'single'; DROP TABLE opinions; -- 😀 \u2028 é`
	odd := expect[conversationJSON](t, ts.do(t, "POST", "/v1/conversations", author,
		`{"title": "`+oddText+`", "body": "`+oddText+`", "seed_opinions": ["`+oddText+`"]}`), http.StatusCreated)
	if !strings.Contains(odd.Title, "\x00") || !strings.Contains(odd.Title, "😀") {
		t.Fatalf("odd title %q", odd.Title)
	}

	// Creations with an Idempotency-Key: their retries after the restart
	// get the first answers and create nothing.
	keyedConv := ts.createConversation(t, author, map[string]any{"title": "keyed", "is_indexed": false})
	keyed := []request{
		{method: "POST", path: opinionsPath(keyedConv.ID), token: voter, body: map[string]string{"text": "sent twice"},
			header: map[string]string{"Idempotency-Key": "restart-opinion"}},
		{method: "POST", path: "/v1/conversations", token: author, body: map[string]any{"title": "sent twice", "is_indexed": false},
			header: map[string]string{"Idempotency-Key": "restart-conversation"}},
	}
	var firstAnswers []*response
	for _, rq := range keyed {
		r := ts.send(t, rq)
		requireStatus(t, r, http.StatusCreated)
		firstAnswers = append(firstAnswers, r)
	}

	snapshot := func() map[string]string {
		s := map[string]string{}
		for _, cid := range []string{open.ID, locked.ID, odd.ID, keyedConv.ID} {
			s["GET "+cid] = string(ts.do(t, "GET", convPath(cid), "", nil).Body)
			s["state "+cid] = fmt.Sprint(func() []int {
				st := expect[actorStateJSON](t, ts.do(t, "GET", "/admin/conversations/"+cid+"/state", testAdminToken, nil), http.StatusOK)
				return []int{st.Opinions, st.Votes, st.Participants}
			}())
			for _, sort := range []string{"new", "moderated", "hidden"} {
				s[sort+" "+cid] = fmt.Sprint(ts.opinions(t, testAdminToken, cid, sort))
			}
			for i, tok := range tokens {
				s[fmt.Sprintf("votes/me %d %s", i, cid)] = fmt.Sprint(ts.myVotes(t, tok, cid))
			}
		}
		for _, oid := range []string{seeds[0].ID, seeds[1].ID, seeds[2].ID, o.ID} {
			s["opinion "+oid] = string(ts.do(t, "GET", opinionPath(open.ID, oid), testAdminToken, nil).Body)
		}
		s["opinion "+lo.ID] = string(ts.do(t, "GET", opinionPath(locked.ID, lo.ID), "", nil).Body)
		for i, tok := range tokens {
			s[fmt.Sprintf("me %d", i)] = string(ts.do(t, "GET", "/v1/participants/me", tok, nil).Body)
		}
		s["list"] = fmt.Sprint(listIDs(t, ts, "new"), listIDs(t, ts, "active"))
		return s
	}
	// Visible: seeds[1] and o, each with one vote of the voter; the
	// moderator's pass is on hidden seeds[2].
	wantCounts := counts{2, 2, 1}
	ts.requireCounters(t, open.ID, wantCounts)
	before := snapshot()
	beforeOpen := ts.conversation(t, open.ID)

	ts.Restart(t)

	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s after the restart:\n%s\nbefore:\n%s", k, after[k], v)
		}
	}
	if got := ts.requireCounters(t, open.ID, wantCounts); !reflect.DeepEqual(got, beforeOpen) {
		t.Fatalf("after the restart %+v, before %+v", got, beforeOpen)
	}
	requireProblem(t, ts.do(t, "GET", opinionPath(open.ID, gone.ID), author, nil), 404, "not_found")
	requireProblem(t, ts.do(t, "GET", convPath(deleted.ID), "", nil), 404, "not_found")
	requireProblem(t, ts.do(t, "GET", opinionsPath(deleted.ID), "", nil), 404, "not_found")
	if c := ts.conversation(t, odd.ID); c.Title != odd.Title || c.Body != odd.Title {
		t.Fatalf("odd texts after the restart: %q %q, want %q", c.Title, c.Body, odd.Title)
	}
	if o := ts.opinions(t, "", odd.ID, "new"); len(o) != 1 || o[0].Text != odd.Title {
		t.Fatalf("odd seed after the restart: %+v", o)
	}
	requireProblem(t, ts.do(t, "PUT", votePath(locked.ID, lo.ID), author, map[string]string{"vote": "agree"}), 423, "conversation_locked")
	requireProblem(t, ts.do(t, "PUT", votePath(open.ID, seeds[0].ID), author, map[string]string{"vote": "agree"}), 409, "opinion_moderated")
	for i, rq := range keyed {
		r := ts.send(t, rq)
		if r.Status != firstAnswers[i].Status || !bytes.Equal(r.Body, firstAnswers[i].Body) || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s retried after the restart: %s (replayed %q), want the first answer %s", rq.path, r, r.Header.Get("Idempotent-Replayed"), firstAnswers[i])
		}
	}
	if c := ts.conversation(t, keyedConv.ID); c.OpinionCount != 1 {
		t.Errorf("the keyed opinion's retry after the restart: %d opinions, want 1", c.OpinionCount)
	}
	if c := ts.conversation(t, locked.ID); c.AuthorID != authorID || !c.Locked || c.Lock.Reason != "spam" {
		t.Fatalf("the locked conversation after the restart: %+v", c)
	}

	t.Run("writes continue where they stopped", func(t *testing.T) {
		ts.vote(t, author, open.ID, seeds[1].ID, "agree")
		ts.requireCounters(t, open.ID, counts{2, 3, 2})
		ts.unmoderate(t, moderator, open.ID, seeds[2].ID)
		ts.requireCounters(t, open.ID, counts{3, 4, 3})
	})
}

// TestE2EChurn passivates a conversation over and over while participants
// vote on it, then deletes it under their feet: every answer is a success
// or, after the deletion, a 404; never a 5xx, and nothing acknowledged is
// lost.
func TestE2EChurn(t *testing.T) {
	t.Parallel()
	const participants, writes = 16, 30
	ts := MustOpenServer(t)
	authorID, author := ts.newParticipant(t)
	c := ts.createConversation(t, author, map[string]any{"title": "churn", "seed_opinions": []string{"a", "b", "c", "d"}})
	var seedIDs []string
	for _, o := range ts.opinions(t, "", c.ID, "new") {
		seedIDs = append(seedIDs, o.ID)
	}
	tokens := make([]string, participants)
	pids := make([]string, participants)
	for i := range tokens {
		pids[i], tokens[i] = ts.newParticipant(t)
	}
	finals := make([]map[string]string, participants)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			votes := map[string]string{}
			for range writes {
				oid := seedIDs[rng.IntN(len(seedIDs))]
				vote := []string{"agree", "disagree", "pass"}[rng.IntN(3)]
				r := ts.do(t, "PUT", votePath(c.ID, oid), tokens[i], map[string]string{"vote": vote})
				if r.Status != http.StatusOK {
					t.Errorf("vote: %s", r)
					return
				}
				votes[oid] = vote
			}
			finals[i] = votes
		}()
	}
	passivator := make(chan struct{})
	go func() {
		defer close(passivator)
		for range 40 {
			if r := ts.do(t, "POST", "/admin/conversations/"+c.ID+"/passivate", testAdminToken, nil); r.Status != http.StatusNoContent {
				t.Errorf("passivate: %s", r)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	<-passivator
	if t.Failed() {
		t.FailNow()
	}
	model := newVoteModel()
	for _, oid := range seedIDs {
		model.addOpinion(oid, authorID, false)
	}
	for i, votes := range finals {
		for oid, v := range votes {
			model.vote(pids[i], oid, v)
		}
	}
	ts.requireCounters(t, c.ID, model.counts())

	t.Run("a deletion under concurrent writes answers 2xx or 404 and then 404 only", func(t *testing.T) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for k := range 20 {
					r := ts.do(t, "PUT", votePath(c.ID, seedIDs[k%len(seedIDs)]), tokens[i], map[string]string{"vote": "pass"})
					if r.Status != http.StatusOK && r.Status != http.StatusNotFound {
						t.Errorf("vote during deletion: %s", r)
					}
				}
			}()
		}
		close(start)
		time.Sleep(2 * time.Millisecond)
		requireStatus(t, ts.do(t, "DELETE", convPath(c.ID), author, nil), http.StatusNoContent)
		wg.Wait()
		for _, tok := range tokens[:3] {
			requireProblem(t, ts.do(t, "PUT", votePath(c.ID, seedIDs[0]), tok, map[string]string{"vote": "agree"}), 404, "not_found")
		}
		requireProblem(t, ts.do(t, "GET", convPath(c.ID), "", nil), 404, "not_found")
	})
}

// TestE2EAdmission floods one conversation past its admission limit: the
// surplus gets 429 with Retry-After and is not applied.
func TestE2EAdmission(t *testing.T) {
	t.Parallel()
	const participants = 40
	ts := MustOpenServer(t, WithMaxInflight(1))
	_, author := ts.newParticipant(t)
	c := ts.createConversation(t, author, map[string]any{"title": "crowded", "seed_opinions": []string{"s"}})
	oid := ts.opinions(t, "", c.ID, "new")[0].ID
	tokens := make([]string, participants)
	for i := range tokens {
		_, tokens[i] = ts.newParticipant(t)
	}
	var mu sync.Mutex
	accepted, refused := 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := ts.do(t, "PUT", votePath(c.ID, oid), tok, map[string]string{"vote": "agree"})
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusOK:
				accepted++
			case http.StatusTooManyRequests:
				refused++
				if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"code":"rate_limited"`) {
					t.Errorf("%s: a 429 without Retry-After or code rate_limited", r)
				}
			default:
				t.Errorf("%s: want 200 or 429", r)
			}
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("%d votes accepted, %d refused by admission", accepted, refused)
	ts.requireCounters(t, c.ID, counts{1, accepted, accepted})
}
