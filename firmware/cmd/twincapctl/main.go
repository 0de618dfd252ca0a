// Command twincapctl is the operators' and technicians' client for a
// capture box's control API: log in, start, stop, cancel, status.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"twincap/firmware/box"
)

const usage = `usage: twincapctl [-box URL] COMMAND [flags]

Commands:
  status [-json]                 the interview, the room and both server icons
  watch                          status every second until interrupted
  login -user NAME [-password-file FILE]
                                 log in on the room's servers (password read from
                                 FILE, or from standard input)
  logout                         forget the operator's session on the box
  start                          start an interview (the fallback policy decides)
  stop                           stop; both servers finalize the same recording
  cancel -yes                    stop and DELETE everything buffered for this
                                 interview, on the box and on both servers
  update FILE                    install a signed update bundle brought to the
                                 box (needs a login; checked like a remote one,
                                 installed once no interview runs and nothing is
                                 owed to a server, then the box reboots into it)

The box's address comes from -box, or TWINCAP_BOX, or http://127.0.0.1:8080.
`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twincapctl:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("twincapctl", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage) }
	def := os.Getenv("TWINCAP_BOX")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	base := fs.String("box", def, "control API `URL` of the box")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	c := client{base: strings.TrimRight(*base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
	switch cmd {
	case "status":
		asJSON := sub.Bool("json", false, "print the raw JSON")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		var st box.Status
		if err := c.call(http.MethodGet, box.PathStatus, nil, &st); err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printStatus(stdout, st)
		return nil
	case "watch":
		for {
			var st box.Status
			if err := c.call(http.MethodGet, box.PathStatus, nil, &st); err != nil {
				return err
			}
			fmt.Fprint(stdout, "\033[H\033[2J")
			printStatus(stdout, st)
			time.Sleep(time.Second)
		}
	case "login":
		user := sub.String("user", "", "operator `name`")
		pwFile := sub.String("password-file", "", "read the password from `file` instead of standard input")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if *user == "" {
			return errors.New("login: -user is required")
		}
		pw, err := readPassword(*pwFile, stdin)
		if err != nil {
			return err
		}
		var st box.Status
		if err := c.call(http.MethodPost, box.PathLogin, box.LoginRequest{Username: *user, Password: pw}, &st); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "logged in as %s\n", st.User)
		return nil
	case "logout":
		return c.call(http.MethodPost, box.PathLogout, nil, nil)
	case "start", "stop":
		if err := sub.Parse(rest); err != nil {
			return err
		}
		path := box.PathStart
		if cmd == "stop" {
			path = box.PathStop
		}
		var rep box.ActionReply
		if err := c.call(http.MethodPost, path, nil, &rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: recording %s\n", map[string]string{"start": "started", "stop": "stopped"}[cmd], rep.RecordingID)
		return nil
	case "cancel":
		yes := sub.Bool("yes", false, "confirm: the buffered recording is deleted on the box and on both servers")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if !*yes {
			return errors.New("cancel deletes this interview's buffered recording on the box and on both servers; repeat with -yes to confirm")
		}
		var rep box.ActionReply
		if err := c.call(http.MethodPost, box.PathCancel, nil, &rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cancelled: recording %s deleted\n", rep.RecordingID)
		return nil
	case "update":
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if sub.NArg() != 1 {
			return errors.New("update: name one bundle file (make update-bundle makes one)")
		}
		f, err := os.Open(sub.Arg(0))
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		defer f.Close()
		// A bundle is large and verified before the answer: no 30 s limit.
		up := client{base: c.base, http: &http.Client{Timeout: 30 * time.Minute}}
		var st box.Status
		if err := up.send(http.MethodPost, box.PathUpdate, f, "application/octet-stream", &st); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "update: the bundle verified; the box installs it once no interview runs and nothing is owed to a server, then reboots into it")
		if st.Update != nil {
			fmt.Fprintf(stdout, "update: %s %s\n", st.Update.State, st.Update.Reason)
		}
		return nil
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", cmd)
}

func readPassword(file string, stdin io.Reader) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("login: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("login: no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func printStatus(w io.Writer, st box.Status) {
	fmt.Fprintf(w, "interview: %s", st.Phase)
	if st.RecordingID != "" {
		fmt.Fprintf(w, "  %s  %s elapsed, %d segments", st.RecordingID, (time.Duration(st.Elapsed) * time.Second).Round(time.Second), st.Segments)
	}
	fmt.Fprintf(w, "\nmode: %s   fallback: %s   room: %s   operator: %s\n", st.Mode, st.Fallback, st.Room, orDash(st.User))
	for _, s := range st.Servers {
		mark := "  "
		if s.Green {
			mark = "● "
		} else {
			mark = "○ "
		}
		fmt.Fprintf(w, "%s%-9s %-21s %s", mark, s.Name, s.Addr, s.Icon)
		if s.NeedsLogin {
			fmt.Fprint(w, " (log in again to resume recording here)")
		}
		if st.RecordingID != "" {
			fmt.Fprintf(w, "  [%d segments held]", s.Acked)
		}
		fmt.Fprintln(w)
	}
	if st.FailoverReady {
		fmt.Fprintln(w, "failover: set up and healthy (two green icons)")
	}
	if st.FIPS {
		fmt.Fprintln(w, "FIPS 140-3 mode: on")
	}
	if len(st.Owed) > 0 {
		fmt.Fprintf(w, "still owed to a server: %s\n", strings.Join(st.Owed, ", "))
	}
	if u := st.Update; u != nil {
		fmt.Fprintf(w, "update: %s, running %s", u.State, orDash(u.Current))
		if u.Reason != "" {
			fmt.Fprintf(w, ": %s", u.Reason)
		}
		if u.Last != "" {
			fmt.Fprintf(w, " (last: %s)", u.Last)
		}
		fmt.Fprintln(w)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "message: %s\n", st.Message)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type client struct {
	base string
	http *http.Client
}

func (c client) call(method, path string, in, out any) error {
	if in == nil {
		return c.send(method, path, nil, "", out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.send(method, path, bytes.NewReader(b), "application/json", out)
}

// send makes one call with body (of contentType) and decodes the answer
// into out, or returns the box's error message.
func (c client) send(method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("box not reachable at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e box.ErrorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
