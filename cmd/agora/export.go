package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/agora-dev/agora"
	"github.com/agora-dev/agora/polis"
)

// exportFiles are the files `agora export polis` writes, in the order it
// fetches them.
var exportFiles = []string{polis.CommentsFile, polis.VotesFile, polis.ParticipantsVotesFile, polis.SummaryFile}

// `agora export polis CID DIR --server URL` writes the four files of a
// conversation's Polis export into DIR (created if needed), each fetched
// from the admin API and written to a temporary file renamed into place
// once complete, so that DIR never holds a half-written file.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "polis" {
		return fmt.Errorf("%w: want agora export polis CID DIR --server URL", errUsage)
	}
	flags := flag.NewFlagSet("agora export polis", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var af adminFlags
	bindAdminFlags(flags, &af)
	pos, err := parseArgs(flags, args[1:], "CID", "DIR")
	if err != nil {
		return err
	}
	cid, dir := pos[0], pos[1]
	if !agora.ValidID(cid) {
		return fmt.Errorf("%w: %q is not a conversation id", errUsage, cid)
	}
	c, err := af.client(stderr)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	var total int64
	var written []string
	for _, file := range exportFiles {
		path := filepath.Join(dir, file)
		n, err := c.exportFile(ctx, cid, file, path)
		if err != nil {
			// A failed export leaves nothing behind: not the files it
			// wrote, nor the folder it made.
			for _, p := range written {
				os.Remove(p)
			}
			if created {
				os.Remove(dir)
			}
			return err
		}
		written = append(written, path)
		total += n
	}
	fmt.Fprintf(stderr, "export: %s written to %s in %.2fs\n", mb(total), dir, time.Since(start).Seconds())
	return json.NewEncoder(stdout).Encode(map[string]string{"conversation_id": cid, "dir": dir})
}

// exportFile downloads one file of an export to path and returns its size.
func (c *adminClient) exportFile(ctx context.Context, cid, file, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/admin/conversations/"+cid+"/export/polis/"+file, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+file+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	start := time.Now()
	pw := &progressWriter{w: tmp}
	stop := c.report(func() string { return fmt.Sprintf("export: %s: %s so far", file, mb(pw.n.Load())) })
	err = c.do(req, http.StatusOK, func(r io.Reader) error {
		_, err := io.Copy(pw, r)
		return err
	})
	stop()
	if err != nil {
		return 0, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	fmt.Fprintf(c.stderr, "export: %s: %s in %.2fs\n", file, mb(pw.n.Load()), time.Since(start).Seconds())
	return pw.n.Load(), nil
}

// progressWriter counts the bytes written through it.
type progressWriter struct {
	w io.Writer
	n atomic.Int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n.Add(int64(n))
	return n, err
}
