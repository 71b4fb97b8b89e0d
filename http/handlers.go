package http

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/cluster"
)

// Request bodies. Pointers tell a missing field from an empty one.

type participantRequest struct {
	DisplayName *string `json:"display_name"`
}

type conversationRequest struct {
	Title        *string  `json:"title"`
	Body         *string  `json:"body"`
	IsIndexed    *bool    `json:"is_indexed"`
	SeedOpinions []string `json:"seed_opinions"`
}

type opinionRequest struct {
	Text *string `json:"text"`
}

type voteRequest struct {
	Vote *string `json:"vote"`
}

type lockRequest struct {
	Reason      *string `json:"reason"`
	Explanation *string `json:"explanation"`
}

type moderationRequest struct {
	Action      *string `json:"action"`
	Reason      *string `json:"reason"`
	Explanation *string `json:"explanation"`
}

type roleRequest struct {
	Role *string `json:"role"`
}

func required[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, agora.Errorf(agora.EINVALID, "Field %s is required.", field)
	}
	return *v, nil
}

func optional[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

func (s *Server) createParticipant(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	var req participantRequest
	if err := decodeBody(ctx, &req, true); err != nil {
		return err
	}
	name := optional(req.DisplayName, "")
	if req.DisplayName != nil {
		if _, err := agora.CheckText("display_name", name, 1, agora.MaxDisplayName); err != nil {
			return err
		}
	}
	p, token, err := s.participants.CreateParticipant(reqContext(ctx), name)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusCreated, map[string]string{"participant_id": p.ID, "token": token})
	return nil
}

func (s *Server) me(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	if c.Admin {
		return agora.Errorf(agora.EFORBIDDEN, "The admin token is not a participant.")
	}
	p, err := s.participants.Participant(reqContext(ctx), c.ParticipantID)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, p)
	return nil
}

func (s *Server) createConversation(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	return s.idempotent(ctx, c, func() error {
		var req conversationRequest
		if err := decodeBody(ctx, &req, false); err != nil {
			return err
		}
		title, err := required("title", req.Title)
		if err != nil {
			return err
		}
		conv, err := s.conversations.CreateConversation(reqContext(ctx), c, agora.NewConversation{
			Title:        title,
			Body:         optional(req.Body, ""),
			IsIndexed:    optional(req.IsIndexed, true),
			SeedOpinions: req.SeedOpinions,
		})
		if err != nil {
			return err
		}
		s.writeJSON(ctx, fasthttp.StatusCreated, conv)
		return nil
	})
}

func (s *Server) listConversations(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	sort := agora.ConversationSort(queryString(ctx, "sort"))
	switch sort {
	case "":
		sort = agora.SortConversationsNew
	case agora.SortConversationsNew, agora.SortConversationsActive:
	default:
		return agora.Errorf(agora.EINVALID, "sort must be new or active.")
	}
	limit, err := queryInt(ctx, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	page, err := s.conversations.ListConversations(reqContext(ctx), agora.ConversationQuery{Sort: sort, Limit: limit, Cursor: queryString(ctx, "cursor")})
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, page)
	return nil
}

func (s *Server) getConversation(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	conv, err := s.conversations.Conversation(reqContext(ctx), cid)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, conv)
	return nil
}

func (s *Server) deleteConversation(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	if err := s.conversations.DeleteConversation(reqContext(ctx), c, cid); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) createOpinion(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	return s.idempotent(ctx, c, func() error {
		var req opinionRequest
		if err := decodeBody(ctx, &req, false); err != nil {
			return err
		}
		text, err := required("text", req.Text)
		if err != nil {
			return err
		}
		o, err := s.conversations.CreateOpinion(reqContext(ctx), c, cid, text)
		if err != nil {
			return err
		}
		s.writeJSON(ctx, fasthttp.StatusCreated, o)
		return nil
	})
}

// ids returns the conversation and opinion ids of an opinion route.
func ids(ctx *fasthttp.RequestCtx) (string, string, error) {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return "", "", err
	}
	oid, err := pathID(ctx, "oid")
	return cid, oid, err
}

func (s *Server) getOpinion(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	o, err := s.conversations.Opinion(reqContext(ctx), c, cid, oid)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, o)
	return nil
}

var opinionSorts = map[agora.OpinionSort]bool{
	agora.SortOpinionsNew: true, agora.SortOpinionsModerated: true, agora.SortOpinionsHidden: true,
	agora.SortOpinionsDiscover: true, agora.SortOpinionsConsensus: true, agora.SortOpinionsDivisive: true,
	agora.SortOpinionsMajority: true, agora.SortOpinionsCluster: true,
}

func (s *Server) listOpinions(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	q := agora.OpinionQuery{Sort: agora.OpinionSort(queryString(ctx, "sort")), Cursor: queryString(ctx, "cursor")}
	if q.Sort == "" {
		q.Sort = agora.SortOpinionsNew
	}
	if !opinionSorts[q.Sort] {
		return agora.Errorf(agora.EINVALID, "Unknown sort %q.", q.Sort)
	}
	if q.Limit, err = queryInt(ctx, "limit", 50, 1, 500); err != nil {
		return err
	}
	if q.Cluster, err = queryInt(ctx, "cluster", -1, 0, 1<<20); err != nil {
		return err
	}
	if q.Sort == agora.SortOpinionsCluster && q.Cluster < 0 {
		return agora.Errorf(agora.EINVALID, "sort=cluster needs cluster=K.")
	}
	page, err := s.conversations.Opinions(reqContext(ctx), c, cid, q)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, page)
	return nil
}

func (s *Server) deleteOpinion(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	if err := s.conversations.DeleteOpinion(reqContext(ctx), c, cid, oid); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) nextOpinion(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	o, err := s.conversations.NextOpinion(reqContext(ctx), c, cid)
	if err != nil {
		return err
	}
	if o == nil {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	}
	s.writeJSON(ctx, fasthttp.StatusOK, o)
	return nil
}

func (s *Server) vote(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	v, ok := canonicalVote(ctx)
	if !ok {
		var req voteRequest
		if err := decodeBody(ctx, &req, false); err != nil {
			return err
		}
		name, err := required("vote", req.Vote)
		if err != nil {
			return err
		}
		if v, err = agora.ParseVote(name); err != nil {
			return err
		}
	}
	res, err := s.conversations.Vote(reqContext(ctx), c, cid, oid, v)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, res)
	return nil
}

// canonicalVoteBodies are the vote bodies every client sends, byte for
// byte (JSON.stringify's form).
var canonicalVoteBodies = [...]struct {
	body string
	vote agora.Vote
}{{`{"vote":"agree"}`, agora.Agree}, {`{"vote":"disagree"}`, agora.Disagree}, {`{"vote":"pass"}`, agora.Pass}}

// canonicalVote recognises a vote request whose media type and body are
// exactly the canonical ones, which decodeBody would accept with this
// vote: the most frequent request of the API skips the general decoding
// (4% of the server's CPU in the throughput run). Any other request takes
// the general path.
func canonicalVote(ctx *fasthttp.RequestCtx) (agora.Vote, bool) {
	if string(ctx.Request.Header.ContentType()) != "application/json" {
		return 0, false
	}
	body := ctx.PostBody()
	for _, c := range canonicalVoteBodies {
		if string(body) == c.body {
			return c.vote, true
		}
	}
	return 0, false
}

func (s *Server) cancelVote(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	if err := s.conversations.CancelVote(reqContext(ctx), c, cid, oid); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) myVotes(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	votes, err := s.conversations.MyVotes(reqContext(ctx), c, cid)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{"votes": votes})
	return nil
}

func (s *Server) lock(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	var req lockRequest
	if err := decodeBody(ctx, &req, false); err != nil {
		return err
	}
	reason, err := required("reason", req.Reason)
	if err != nil {
		return err
	}
	conv, err := s.conversations.Lock(reqContext(ctx), c, cid, agora.LockInput{Reason: agora.Reason(reason), Explanation: optional(req.Explanation, "")})
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, conv)
	return nil
}

func (s *Server) unlock(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	conv, err := s.conversations.Unlock(reqContext(ctx), c, cid)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, conv)
	return nil
}

func (s *Server) moderate(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	var req moderationRequest
	if err := decodeBody(ctx, &req, false); err != nil {
		return err
	}
	action, err := required("action", req.Action)
	if err != nil {
		return err
	}
	reason, err := required("reason", req.Reason)
	if err != nil {
		return err
	}
	o, err := s.conversations.Moderate(reqContext(ctx), c, cid, oid, agora.ModerationInput{
		Action: agora.ModerationAction(action), Reason: agora.Reason(reason), Explanation: optional(req.Explanation, ""),
	})
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, o)
	return nil
}

func (s *Server) unmoderate(ctx *fasthttp.RequestCtx, c agora.Caller) error {
	cid, oid, err := ids(ctx)
	if err != nil {
		return err
	}
	o, err := s.conversations.Unmoderate(reqContext(ctx), c, cid, oid)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, o)
	return nil
}

func (s *Server) adminActors(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{"node": s.cfg.NodeName, "actors": s.conversations.Actors(reqContext(ctx))})
	return nil
}

func (s *Server) adminState(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	st, err := s.conversations.ActorState(reqContext(ctx), cid)
	if err != nil {
		return err
	}
	if st.Owner == "" {
		st.Owner = s.cfg.NodeName
	}
	s.writeJSON(ctx, fasthttp.StatusOK, st)
	return nil
}

func (s *Server) adminPassivate(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	if err := s.conversations.Passivate(reqContext(ctx), cid); err != nil {
		return err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// adminCluster describes the members this node knows (itself alone when
// it runs without a cluster).
func (s *Server) adminCluster(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	if c := s.cfg.Cluster; c != nil {
		s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{"self": c.Self(), "members": c.Members()})
		return nil
	}
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]any{
		"self": s.cfg.NodeName,
		"members": []map[string]string{{
			"name": s.cfg.NodeName, "gossip_addr": "", "http_addr": s.Addr(), "state": "serving",
		}},
	})
	return nil
}

func (s *Server) adminSetRole(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	pid, err := pathID(ctx, "pid")
	if err != nil {
		return err
	}
	var req roleRequest
	if err := decodeBody(ctx, &req, false); err != nil {
		return err
	}
	role, err := required("role", req.Role)
	if err != nil {
		return err
	}
	p, err := s.participants.SetRole(reqContext(ctx), pid, agora.Role(role))
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusOK, p)
	return nil
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	if s.draining.Load() {
		return agora.Unavailable(time.Second, "The node is draining.")
	}
	if c := s.cfg.Cluster; c != nil && c.State() != cluster.StateServing {
		return agora.Unavailable(time.Second, "The node has not joined the cluster (state %s).", c.State())
	}
	pctx, cancel := timeoutContext(time.Second)
	defer cancel()
	if err := s.store.Ping(pctx); err != nil {
		return agora.Unavailable(time.Second, "The store is not reachable.")
	}
	s.writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) openapi(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	ctx.Response.Header.SetContentType("application/yaml")
	ctx.SetBody(openapiSpec)
	return nil
}

func (s *Server) analysis(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	var withParticipants bool
	switch include := queryString(ctx, "include"); include {
	case "":
	case "participants":
		withParticipants = true
	default:
		return agora.Errorf(agora.EINVALID, "include must be participants.")
	}
	body, err := s.conversations.Analysis(reqContext(ctx), cid, withParticipants)
	if err != nil {
		return err
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(body)
	return nil
}
