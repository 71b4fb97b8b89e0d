package http

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"path"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/agora-dev/agora"
)

// importPolisPath is the one endpoint whose body is not JSON and may be far
// larger than MaxBodySize: a whole Polis export.
const importPolisPath = "/admin/import/polis"

// Bounds of an import request beyond its body size.
const (
	// importReadTimeout replaces the server's 30 s read timeout for an
	// import's body, which may be hundreds of MB on a slow link.
	importReadTimeout = 5 * time.Minute
	// importCommitTimeout bounds the parsing and the store's transaction.
	importCommitTimeout = 5 * time.Minute
	// maxTitleField bounds the bytes of the title field read (a title has
	// at most agora.MaxTitle characters of up to 4 bytes).
	maxTitleField = 4*agora.MaxTitle + 1
)

// isImport reports whether a request is an import, from its header alone.
func isImport(method, uri []byte) bool {
	p, _, _ := bytes.Cut(uri, []byte("?"))
	return string(method) == fasthttp.MethodPost && string(p) == importPolisPath
}

// requestConfig is the server's HeaderReceived hook: an import may send a
// body up to ImportMaxBodySize, and takes longer to send; every other
// request keeps the server's limits (the JSON endpoints' MaxBodySize), so
// the import's limit lifts no other endpoint's. As for those, fasthttp
// reads up to minReadBodySize more than the limit, so that the handler
// answers a body a little over it with a 413 on a connection that stays
// usable (see minReadBodySize). The body is read whole before the handler
// runs: the import needs all its rows before it writes anything, so
// streaming the upload would not save the parsed copy.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if isImport(h.Method(), h.RequestURI()) {
		return fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.ImportMaxBodySize + minReadBodySize, ReadTimeout: importReadTimeout}
	}
	return fasthttp.RequestConfig{}
}

// expectContinue is the server's ExpectHandler: an import that announces
// (Expect: 100-continue) a Content-Length over ImportMaxBodySize is
// answered 413 before its body is sent, instead of a connection reset
// while the client sends hundreds of MB; `agora import` sends the header.
// Every other request proceeds as it would without the hook.
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	if isImport(ctx.Method(), ctx.Request.Header.RequestURI()) && ctx.Request.Header.ContentLength() > s.cfg.ImportMaxBodySize {
		s.writeError(ctx, s.bodyTooLarge(ctx))
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

// bodyTooLarge is the 413 of a request whose body is over its limit,
// naming that limit.
func (s *Server) bodyTooLarge(ctx *fasthttp.RequestCtx) error {
	if isImport(ctx.Method(), ctx.Request.Header.RequestURI()) {
		return agora.Errorf(agora.ETOOLARGE, "The import is over the limit of %d bytes (the server's --import-max-bytes).", s.cfg.ImportMaxBodySize)
	}
	return agora.Errorf(agora.ETOOLARGE, "The request body is over the limit of %d bytes.", s.cfg.MaxBodySize)
}

// importPolis answers POST /admin/import/polis: a multipart/form-data body
// with the files comments.csv and votes.csv (or participants-votes.csv),
// optionally summary.csv (its topic and conversation-description become
// the title and body) and a title field. A file is recognised by its field
// name or, failing that, its file name. Parts are read as they come, so
// the files may be in any order; nothing is written unless all is well.
// It does not go through handle, whose MaxBodySize check is the JSON
// endpoints', and is never forwarded: it creates a new conversation in the
// shared store, which its owner then activates.
func (s *Server) importPolis(ctx *fasthttp.RequestCtx) {
	if err := s.doImportPolis(ctx); err != nil {
		s.writeError(ctx, err)
	}
}

func (s *Server) doImportPolis(ctx *fasthttp.RequestCtx) error {
	if _, err := s.caller(ctx, authAdmin); err != nil {
		return err
	}
	if len(ctx.Request.Body()) > s.cfg.ImportMaxBodySize {
		return s.bodyTooLarge(ctx)
	}
	if s.cfg.Polis == nil {
		return agora.Errorf(agora.ENOTFOUND, "This server does not import Polis conversations.")
	}
	mt, params, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return agora.Errorf(agora.EUNSUPPORTED, "The body must be multipart/form-data with the files comments.csv and votes.csv (or participants-votes.csv).")
	}
	mr := multipart.NewReader(bytes.NewReader(ctx.Request.Body()), params["boundary"])
	imp := s.cfg.Polis.NewPolisImport()
	title := ""
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return agora.Errorf(agora.EINVALID, "The multipart body is malformed: %v.", err)
		}
		name, file := part.FormName(), part.FileName()
		switch {
		case name == "title" && file == "":
			b, err := io.ReadAll(io.LimitReader(part, maxTitleField))
			if err != nil {
				return agora.Errorf(agora.EINVALID, "The multipart body is malformed: %v.", err)
			}
			if len(b) == maxTitleField {
				return agora.Errorf(agora.EINVALID, "title must have at most %d characters.", agora.MaxTitle)
			}
			title = string(b)
		case isPolisFile(name):
			err = imp.AddFile(name, part)
		case file != "":
			err = imp.AddFile(path.Base(file), part)
		}
		part.Close()
		if err != nil {
			return err
		}
	}
	c, cancel := context.WithTimeout(context.Background(), importCommitTimeout)
	defer cancel()
	res, err := imp.Commit(c, title)
	if err != nil {
		return err
	}
	s.writeJSON(ctx, fasthttp.StatusCreated, res)
	return nil
}

// polisFiles are the files of a Polis export, as the export endpoint names
// them.
var polisFiles = []string{"comments.csv", "votes.csv", "participants-votes.csv", "summary.csv"}

func isPolisFile(name string) bool {
	for _, f := range polisFiles {
		if name == f {
			return true
		}
	}
	return false
}

// exportPolis answers GET /admin/conversations/{cid}/export/polis/{file}
// with one file of the Polis open-data export, as text/csv.
func (s *Server) exportPolis(ctx *fasthttp.RequestCtx, _ agora.Caller) error {
	cid, err := pathID(ctx, "cid")
	if err != nil {
		return err
	}
	file, _ := ctx.UserValue("file").(string)
	if !isPolisFile(file) {
		return agora.Errorf(agora.EINVALID, "Unknown export file %q (comments.csv, votes.csv, participants-votes.csv or summary.csv).", file)
	}
	if s.cfg.Polis == nil {
		return agora.Errorf(agora.ENOTFOUND, "This server does not export Polis conversations.")
	}
	c, cancel := context.WithTimeout(context.Background(), importCommitTimeout)
	defer cancel()
	// The file is built in the response's buffer; on an error it is dropped
	// and a problem is answered instead.
	if err := s.cfg.Polis.ExportPolis(c, cid, file, ctx); err != nil {
		ctx.ResetBody()
		return err
	}
	ctx.Response.Header.SetContentType("text/csv; charset=utf-8")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+file+`"`)
	ctx.SetStatusCode(fasthttp.StatusOK)
	return nil
}
