package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"twincap/server"
	"twincap/server/audit"
	"twincap/server/config"
	"twincap/server/pki"
	"twincap/server/settings"
	"twincap/server/wire"
)

const settingsHelp = `Shows or changes the settings of a RUNNING server through its admin API
(GET and PATCH/PUT /api/v1/settings): the change takes effect at once, is
durable and is in the audit trail under -user, an administrator
(useradd -admin) for set and patch. The password is the first line of
-password-file, or else of standard input.

  show          prints the settings (JSON)
  set FILE|-    replaces them with a whole document (fields left out take
                their defaults; "-" reads standard input: then give
                -password-file)
  patch JSON    merges a JSON merge patch, e.g. '{"evidence":{"retry_attempts":3}}'

A refused change names every offending field and keeps the settings.
The server is reached at its listen address (an unspecified host means
this machine) or -addr, checked against the room CA (ca_file, or the CA in
tls_cert_file). A change of "fips" takes effect when the server restarts.
`

func settingsCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("settings -config FILE -user NAME [flags] show | set FILE|- | patch JSON", settingsHelp, stderr)
	af := adminFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	bad := *af.config == "" || *af.user == "" || len(rest) == 0
	if !bad {
		switch rest[0] {
		case "show":
			bad = len(rest) != 1
		case "set", "patch":
			bad = len(rest) != 2
		default:
			bad = true
		}
	}
	if bad {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*af.config, os.LookupEnv)
	if err != nil {
		return err
	}
	var method string
	var doc []byte
	switch rest[0] {
	case "show":
		method = http.MethodGet
	case "patch":
		method, doc = http.MethodPatch, []byte(rest[1])
	case "set":
		method = http.MethodPut
		if rest[1] == "-" {
			if *af.pwFile == "" {
				return errors.New(`"set -" reads the settings from standard input: give the password with -password-file`)
			}
			doc, err = io.ReadAll(io.LimitReader(stdin, settings.MaxDocument+1))
		} else {
			doc, err = os.ReadFile(rest[1])
		}
		if err != nil {
			return err
		}
	}
	c, err := af.login(ctx, cfg, stdin)
	if err != nil {
		return err
	}
	defer c.logout(ctx)
	out, err := c.call(ctx, method, wire.PathSettings, doc)
	if err != nil {
		var se *settingsRefused
		if errors.As(err, &se) {
			for _, f := range se.Fields {
				fmt.Fprintf(stderr, "  %s: %s\n", cmpField(f.Field), f.Problem)
			}
		}
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		return fmt.Errorf("the server's reply: %w", err)
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}

func cmpField(f string) string {
	if f == "" {
		return "(document)"
	}
	return f
}

// adminClient talks to a server's API with an administrator's ticket.
type adminClient struct {
	base   string
	hc     *http.Client
	ticket string
}

// newAdminClient reaches addr, or the server of cfg at its listen address,
// trusting the room CA.
// remoteFlags are the flags of the commands that go through a running
// server's API.
type remoteFlags struct {
	config, user, pwFile, addr *string
}

func adminFlags(fs *flag.FlagSet) remoteFlags {
	return remoteFlags{
		config: fs.String("config", "", "config file (TOML); required"),
		user:   fs.String("user", "", "user to log in as; required"),
		pwFile: fs.String("password-file", "", "file whose first line is the password (default: standard input)"),
		addr:   fs.String("addr", "", "server to talk to, host:port (default: this server's listen address)"),
	}
}

// login reads the password (stdin or -password-file) and logs -user in
// on the running server at -addr (the config's listen address when
// empty); the caller logs out.
func (f remoteFlags) login(ctx context.Context, cfg config.Config, stdin io.Reader) (*adminClient, error) {
	pass, err := readPassword(stdin, *f.pwFile)
	if err != nil {
		return nil, err
	}
	c, err := newAdminClient(cfg, *f.addr)
	if err != nil {
		return nil, err
	}
	if err := c.login(ctx, *f.user, pass); err != nil {
		return nil, err
	}
	return c, nil
}

func newAdminClient(cfg config.Config, addr string) (*adminClient, error) {
	pool, err := pki.RoomPool(cfg.TLSCertFile, cfg.CAFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if addr == "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", cfg.Listen, err)
		}
		switch ip := net.ParseIP(host); {
		case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
			host = "127.0.0.1"
		case ip != nil && ip.IsUnspecified():
			host = "::1"
		}
		addr = net.JoinHostPort(host, port)
		// Our own server: its certificate may name the room's addresses
		// rather than this one; check it against the names it carries.
		if name, err := certName(cfg.TLSCertFile, host); err == nil {
			tc.ServerName = name
		}
	}
	return &adminClient{
		base: "https://" + addr,
		hc:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}},
	}, nil
}

// certName is host when the certificate in certFile is valid for it, else
// the first name the certificate carries.
func certName(certFile, host string) (string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", errors.New("no certificate")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	if leaf.VerifyHostname(host) == nil {
		return host, nil
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0], nil
	}
	if len(leaf.IPAddresses) > 0 {
		return leaf.IPAddresses[0].String(), nil
	}
	return "", errors.New("the certificate names no host")
}

// settingsRefused is a 400 reply to a settings change.
type settingsRefused struct{ wire.SettingsError }

func (e *settingsRefused) Error() string {
	return "the server refused the settings: " + e.SettingsError.Error
}

func (c *adminClient) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	if c.ticket != "" {
		req.Header.Set(wire.HeaderAuthorization, "Bearer "+c.ticket)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return out, nil
	}
	if resp.StatusCode == http.StatusBadRequest {
		var se wire.SettingsError
		if json.Unmarshal(out, &se) == nil && se.Fields != nil {
			return nil, &settingsRefused{se}
		}
	}
	var we wire.Error
	msg := strings.TrimSpace(string(out))
	if json.Unmarshal(out, &we) == nil && we.Error != "" {
		msg = we.Error
	}
	return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, msg)
}

func (c *adminClient) login(ctx context.Context, user, pass string) error {
	body, _ := json.Marshal(wire.LoginRequest{Username: user, Password: pass})
	out, err := c.call(ctx, http.MethodPost, wire.PathLogin, body)
	if err != nil {
		return err
	}
	var rep wire.LoginReply
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.ticket = rep.Ticket
	return nil
}

// logout revokes the ticket; a failure only leaves it to expire.
func (c *adminClient) logout(ctx context.Context) {
	_, _ = c.call(ctx, http.MethodPost, wire.PathLogout, nil)
}

func auditCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit -config FILE verify | set-aside",
		`verify     checks the server's audit trail (<data_dir>/audit.log) entry by entry,
           from its file; safe while the server runs
set-aside  moves a trail that does not verify out of the way (kept as
           audit.log.broken-<time>) so that the server can start a new one;
           run it with the server stopped
`, stderr)
	path := fs.String("config", "", "config file (TOML); required")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *path == "" || fs.NArg() != 1 || (fs.Arg(0) != "verify" && fs.Arg(0) != "set-aside") {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	trail := server.AuditPath(cfg)
	head, verr := audit.VerifyFile(trail)
	switch {
	case fs.Arg(0) == "verify" && verr != nil:
		return verr
	case fs.Arg(0) == "verify":
		fmt.Fprintf(stdout, "audit: %s verifies: %d entries, head %s\n", trail, head.Seq, head.Hash)
		return nil
	case verr == nil:
		return fmt.Errorf("%s verifies (%d entries); nothing to set aside", trail, head.Seq)
	case !errors.Is(verr, audit.ErrBroken):
		return verr
	}
	to, err := audit.SetAside(trail, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit: %s did not verify (%v); moved to %s\n", trail, verr, to)
	return nil
}
