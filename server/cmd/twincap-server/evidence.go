package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"twincap/server/config"
	"twincap/server/httpapi"
	"twincap/server/wire"
)

const evidenceHelp = `Shows or restarts the evidence uploads of a RUNNING server through its
API, logged in as -user (retry needs an administrator). The password is
the first line of -password-file, or else of standard input.

  list        one line per queued recording: ID, state, attempts, reason
              or last error
  retry ID    starts a given-up upload again with a fresh count of attempts
`

func evidenceCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("evidence -config FILE -user NAME [flags] list | retry ID", evidenceHelp, stderr)
	af := adminFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	bad := *af.config == "" || *af.user == "" || len(rest) == 0 ||
		(rest[0] == "list" && len(rest) != 1) || (rest[0] == "retry" && len(rest) != 2) || (rest[0] != "list" && rest[0] != "retry")
	if bad {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*af.config, os.LookupEnv)
	if err != nil {
		return err
	}
	c, err := af.login(ctx, cfg, stdin)
	if err != nil {
		return err
	}
	defer c.logout(ctx)
	if rest[0] == "retry" {
		if _, err := c.call(ctx, http.MethodPost, strings.Replace(wire.PathEvidenceRetry, "{id}", url.PathEscape(rest[1]), 1), nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: upload started again\n", rest[1])
		return nil
	}
	out, err := c.call(ctx, http.MethodGet, wire.PathEvidence, nil)
	if err != nil {
		return err
	}
	var l httpapi.EvidenceList
	if err := json.Unmarshal(out, &l); err != nil {
		return fmt.Errorf("the server's reply: %w", err)
	}
	if !l.Configured {
		fmt.Fprintln(stdout, "evidence upload is not configured on this server (no evidence endpoint in its settings, or a bad credentials file: see its log)")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORDING\tSTATE\tATTEMPTS\tFINISHED\tREASON / ERROR")
	for _, st := range l.Uploads {
		note := st.Reason
		if st.LastError != "" {
			note = st.LastError
		}
		finished := "-"
		if !st.FinishedAt.IsZero() {
			finished = st.FinishedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", st.Recording.ID, st.State, st.Attempts, finished, note)
	}
	return tw.Flush()
}
