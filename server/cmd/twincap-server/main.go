package main

import (
	"bufio"
	"context"
	"crypto/fips140"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"twincap/server"
	"twincap/server/auth"
	"twincap/server/config"
	"twincap/server/pki"
)

const usage = `twincap-server is an interview-room recording server.

Usage:
  twincap-server serve     -config FILE
  twincap-server useradd   -config FILE -user NAME [-admin] [-password-file FILE]
  twincap-server passwd    -config FILE -user NAME [-password-file FILE]
  twincap-server usermod   -config FILE -user NAME -admin=true|false
  twincap-server settings  -config FILE -user NAME [-password-file FILE] [-addr HOST:PORT] show | set FILE|- | patch JSON
  twincap-server audit     -config FILE verify | set-aside
  twincap-server evidence  -config FILE -user NAME [-password-file FILE] [-addr HOST:PORT] list | retry ID
  twincap-server init-room -out DIR -hosts HOST[,HOST...]
  twincap-server help

Run "twincap-server COMMAND -h" for a command's flags.

Both servers of a room share room.key and trust the same CA; each has its
own data_dir and server_id. Config file keys (TOML; relative paths are
relative to the config file; every key can be overridden by the
environment as TWINCAP_SERVER_<KEY>, e.g. TWINCAP_SERVER_LISTEN):

  listen              = "127.0.0.1:8443"  # host:port; ":8443" serves every interface
  data_dir            = "data"            # required
  server_id           = "room1-a"         # required, unique per server
  room_id             = "room1"           # required, same on both servers
  room_key_file       = "room.key"
  tls_cert_file       = "server.pem"
  tls_key_file        = "server.key"
  ca_file             = ""                # default: the CA after the certificate in tls_cert_file
  users_file          = ""                # default <data_dir>/users.json
  credentials_dir     = "."               # files named by evidence.credentials_ref (see below)
  ticket_ttl          = "12h"
  password_iterations = 600000            # PBKDF2-HMAC-SHA256, at least 600000
  log_level           = "info"            # debug, info, warn, error

Evidence upload: the settings' evidence.credentials_ref names a file in
credentials_dir (mode 0600, owned by the server's user) holding the
store's keys as JSON:

  {"access_key": "...", "secret_key": "..."}
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "useradd":
		err = setUser(args[1:], stdin, stdout, stderr, true)
	case "passwd":
		err = setUser(args[1:], stdin, stdout, stderr, false)
	case "usermod":
		err = usermod(args[1:], stdout, stderr)
	case "settings":
		err = settingsCmd(ctx, args[1:], stdin, stdout, stderr)
	case "audit":
		err = auditCmd(args[1:], stdout, stderr)
	case "evidence":
		err = evidenceCmd(ctx, args[1:], stdin, stdout, stderr)
	case "init-room":
		err = initRoom(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "twincap-server: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "twincap-server %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: twincap-server %s\n\n%s\nFlags:\n", name, help)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	return nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve -config FILE", "Serves the room API over HTTPS until SIGTERM or SIGINT, then shuts down\ngracefully (requests in flight finish, up to 10 s).\n", stderr)
	path := fs.String("config", "", "config file (TOML); required")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Settings that require FIPS 140-3 mode: re-execute in it (Go enters
	// the mode only at start).
	if err := server.EnterFIPS(server.SettingsPath(cfg), fips140.Enabled(), os.Environ(), func(env []string) error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		log.Info("server: the settings require FIPS 140-3 mode; re-executing with GODEBUG=fips140=on", "exe", exe)
		return syscall.Exec(exe, os.Args, env)
	}); err != nil {
		return err
	}
	s, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return s.Run(ctx)
}

func setUser(args []string, stdin io.Reader, stdout, stderr io.Writer, add bool) error {
	name, help := "useradd", "Adds a user to the server's users file. The password is read from the\nfirst line of -password-file, or else of standard input. Run it on each\nserver of the room (each has its own users file).\n"
	if !add {
		name, help = "passwd", "Sets an existing user's password (read as for useradd).\n"
	}
	fs := newFlags(name+" -config FILE -user NAME", help, stderr)
	path := fs.String("config", "", "config file (TOML); required")
	user := fs.String("user", "", "user name; required")
	pwFile := fs.String("password-file", "", "file whose first line is the password (default: standard input)")
	admin := new(bool)
	if add {
		admin = fs.Bool("admin", false, "an administrator: may change the settings and read the audit trail (default: an operator)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" || *user == "" {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	pass, err := readPassword(stdin, *pwFile)
	if err != nil {
		return err
	}
	users, err := auth.OpenUsers(cfg.UsersFile, cfg.PasswordIterations, nil)
	if err != nil {
		return err
	}
	if add {
		err = users.Add(*user, pass, *admin)
	} else {
		err = users.SetPassword(*user, pass)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s updated in %s\n", name, *user, cfg.UsersFile)
	return nil
}

// readPassword reads the first line of the file at path, or of stdin when
// path is empty.
func readPassword(stdin io.Reader, path string) (string, error) {
	in := stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		in = f
	}
	pass, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password: %w", err)
	}
	return strings.TrimRight(pass, "\r\n"), nil
}

func usermod(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usermod -config FILE -user NAME -admin=true|false",
		"Makes an existing user an administrator (-admin=true) or an operator again\n(-admin=false). A running server sees the change at the next request.\n", stderr)
	path := fs.String("config", "", "config file (TOML); required")
	user := fs.String("user", "", "user name; required")
	admin := fs.Bool("admin", false, "administrator (true) or operator (false); required")
	if err := parse(fs, args); err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "admin" })
	if *path == "" || *user == "" || !given {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	users, err := auth.OpenUsers(cfg.UsersFile, cfg.PasswordIterations, nil)
	if err != nil {
		return err
	}
	if err := users.SetAdmin(*user, *admin); err != nil {
		return err
	}
	role := "an operator"
	if *admin {
		role = "an administrator"
	}
	fmt.Fprintf(stdout, "usermod: %s is %s in %s\n", *user, role, cfg.UsersFile)
	return nil
}

func initRoom(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init-room -out DIR -hosts HOST[,HOST...]",
		"Makes the files of a demo room in DIR: ca.pem (the room CA, for the box to\ntrust), server.pem and server.key (a certificate for every listed host:\nlist the addresses of both servers), and room.key (the key both servers\nshare). Existing files are never overwritten.\n", stderr)
	out := fs.String("out", "", "folder to write into (created if needed); required")
	hosts := fs.String("hosts", "127.0.0.1,localhost", "comma-separated IP addresses and DNS names of the room's servers")
	name := fs.String("name", "twincap room CA", "CA common name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errUsage
	}
	files := []string{"ca.pem", "server.pem", "server.key", "room.key"}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(*out, f)); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a room", filepath.Join(*out, f))
		}
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		return err
	}
	ca, err := pki.NewCA(*name)
	if err != nil {
		return err
	}
	var hl []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hl = append(hl, h)
		}
	}
	certPEM, keyPEM, err := ca.IssueServer(hl)
	if err != nil {
		return err
	}
	key, err := auth.NewRoomKey()
	if err != nil {
		return err
	}
	for _, w := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{{"ca.pem", ca.CertPEM(), 0o644}, {"server.pem", certPEM, 0o644}, {"server.key", keyPEM, 0o600}} {
		if err := pki.WritePEM(filepath.Join(*out, w.name), w.data, w.perm); err != nil {
			return err
		}
	}
	if err := auth.WriteRoomKey(filepath.Join(*out, "room.key"), key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "init-room: wrote %s in %s for hosts %s\n", strings.Join(files, ", "), *out, strings.Join(hl, ","))
	return nil
}
