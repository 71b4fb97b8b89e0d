package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agora-dev/agora/polis"
)

// `agora import polis DIR --server URL` uploads a Polis export folder to a
// node's import endpoint with the admin token (AGORA_ADMIN_TOKEN), prints
// the answer ({"conversation_id", ...}) on stdout and its progress on
// stderr. The body is built in memory (the files are read once) and sent
// with its length, so that a node refuses one over its --import-max-bytes
// before reading it.

// adminClient talks to a node's admin API for the import, export and gen
// commands.
type adminClient struct {
	base   string // scheme://host[:port][/prefix], no trailing slash
	token  string
	http   *http.Client
	stderr io.Writer
	// progress is the interval of progress lines; 0 for none.
	progress time.Duration
}

// adminFlags are the flags every admin client command has.
type adminFlags struct {
	server, token string
	progress      time.Duration
}

func bindAdminFlags(fs *flag.FlagSet, f *adminFlags) {
	fs.StringVar(&f.server, "server", "", "base URL of the agora node (required), e.g. http://127.0.0.1:8080")
	fs.StringVar(&f.token, "admin-token", "", "the node's admin token (default: AGORA_ADMIN_TOKEN)")
	fs.DurationVar(&f.progress, "progress", time.Second, "interval of the progress lines on stderr; 0 for none")
}

// client checks the flags and returns the client they describe.
func (f *adminFlags) client(stderr io.Writer) (*adminClient, error) {
	if f.server == "" {
		return nil, fmt.Errorf("%w: --server is required", errUsage)
	}
	u, prefix, err := parseServerURL(f.server)
	if err != nil {
		return nil, fmt.Errorf("%w: --server: %v", errUsage, err)
	}
	if f.token == "" {
		return nil, fmt.Errorf("%w: the admin token is required (AGORA_ADMIN_TOKEN or --admin-token)", errUsage)
	}
	return &adminClient{base: u.Scheme + "://" + u.Host + prefix, token: f.token, stderr: stderr,
		progress: f.progress, http: &http.Client{Timeout: 30 * time.Minute}}, nil
}

// parseArgs parses flags and positional arguments in any order (flag
// stops at the first positional one), then fills unset flags from the
// environment as parseFlags does, and checks the number of positional
// arguments.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := parseQuietly(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := parseFlags(fs, nil); err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
		}
		return nil, fmt.Errorf("%w: want %s", errUsage, strings.Join(names, " "))
	}
	return pos, nil
}

// importResult is the import endpoint's answer.
type importResult struct {
	ConversationID string `json:"conversation_id"`
	Opinions       int    `json:"opinions"`
	Participants   int    `json:"participants"`
	Votes          int    `json:"votes"`
}

// uploadFile is one file of a multipart upload.
type uploadFile struct {
	name string
	body []byte
}

// importPolis uploads files (comments.csv first) with an optional title.
func (c *adminClient) importPolis(ctx context.Context, title string, files []uploadFile) (*importResult, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if title != "" {
		if err := mw.WriteField("title", title); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(f.name, f.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	size := body.Len()
	pr := &progressReader{r: &body}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/admin/import/polis", pr)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(size)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	// A node refuses an upload over its limit before the body is sent.
	req.Header.Set("Expect", "100-continue")

	start := time.Now()
	stop := c.report(func() string {
		n := pr.n.Load()
		if n >= int64(size) {
			return fmt.Sprintf("import: uploaded %s; the server is importing (%.1fs)", mb(int64(size)), time.Since(start).Seconds())
		}
		return fmt.Sprintf("import: uploaded %s of %s (%.0f%%)", mb(n), mb(int64(size)), 100*float64(n)/float64(size))
	})
	var res importResult
	err = c.do(req, http.StatusCreated, func(r io.Reader) error { return json.NewDecoder(r).Decode(&res) })
	stop()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "import: conversation %s: %d opinions, %d participants, %d votes, in %.2fs (%s uploaded)\n",
		res.ConversationID, res.Opinions, res.Participants, res.Votes, time.Since(start).Seconds(), mb(int64(size)))
	return &res, nil
}

// do sends req and hands the body of an answer with the wanted status to
// read; any other answer is an error quoting the problem's detail.
func (c *adminClient) do(req *http.Request, want int, read func(io.Reader) error) error {
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var p struct {
			Detail string `json:"detail"`
			Code   string `json:"code"`
		}
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s %s: %d %s: %s", req.Method, req.URL.Path, res.StatusCode, p.Code, p.Detail)
		}
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, bytes.TrimSpace(b))
	}
	return read(res.Body)
}

// report prints line() on stderr every progress interval until stop is
// called.
func (c *adminClient) report(line func() string) (stop func()) {
	if c.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(c.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(c.stderr, line())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressReader counts the bytes read through it.
type progressReader struct {
	r io.Reader
	n atomic.Int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

// mb formats a byte count.
func mb(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "polis" {
		return fmt.Errorf("%w: want agora import polis DIR --server URL", errUsage)
	}
	fs := flag.NewFlagSet("agora import polis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	bindAdminFlags(fs, &af)
	title := fs.String("title", "", "title of the conversation (default: summary.csv's topic)")
	pos, err := parseArgs(fs, args[1:], "DIR")
	if err != nil {
		return err
	}
	c, err := af.client(stderr)
	if err != nil {
		return err
	}
	files, err := readPolisDir(pos[0])
	if err != nil {
		return err
	}
	res, err := c.importPolis(ctx, *title, files)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// readPolisDir reads the files of an export folder that an import sends:
// comments.csv, then votes.csv (or, without it, participants-votes.csv),
// and summary.csv when present.
func readPolisDir(dir string) ([]uploadFile, error) {
	read := func(name string, required bool) (*uploadFile, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && !required {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &uploadFile{name, b}, nil
	}
	var files []uploadFile
	comments, err := read(polis.CommentsFile, true)
	if err != nil {
		return nil, err
	}
	files = append(files, *comments)
	votes, err := read(polis.VotesFile, false)
	if err != nil {
		return nil, err
	}
	if votes == nil {
		if votes, err = read(polis.ParticipantsVotesFile, false); err != nil {
			return nil, err
		}
		if votes == nil {
			return nil, fmt.Errorf("%s has neither %s nor %s", dir, polis.VotesFile, polis.ParticipantsVotesFile)
		}
	}
	files = append(files, *votes)
	summary, err := read(polis.SummaryFile, false)
	if err != nil {
		return nil, err
	}
	if summary != nil {
		files = append(files, *summary)
	}
	return files, nil
}
