package servertest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/server"
	"twincap/server/auth"
	"twincap/server/config"
	"twincap/server/pki"
)

// Test credentials of every room made here: an operator and an
// administrator, on every server.
const (
	User          = "operator"
	Password      = "operator-password"
	Admin         = "admin"
	AdminPassword = "admin-password"
)

// Room is a test room of servers sharing a CA and room key.
type Room struct {
	ID      string
	Dir     string
	CA      *pki.CA
	CAFile  string // ca.pem, for clients that read a file
	Servers []*Server
	t       testing.TB
}

// Server is one running (or stopped) server of a Room.
type Server struct {
	Config config.Config // Listen is the bound address after the first start
	Srv    *server.Server
	t      testing.TB
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan error
}

// Options tune NewRoom; the zero value is fine.
type Options struct {
	RoomID string       // default "room1"
	Logger *slog.Logger // default: discard
}

// NewRoom makes a room with n servers (IDs "a", "b", ...) and starts them.
// They are stopped when the test ends.
func NewRoom(t testing.TB, n int, opt Options) *Room {
	t.Helper()
	if opt.RoomID == "" {
		opt.RoomID = "room1"
	}
	dir := t.TempDir()
	ca, err := pki.NewCA("test room CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewRoomKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &Room{ID: opt.RoomID, Dir: dir, CA: ca, CAFile: filepath.Join(dir, "ca.pem"), t: t}
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM(), "server.pem": certPEM, "server.key": keyPEM} {
		if err := pki.WritePEM(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := auth.WriteRoomKey(filepath.Join(dir, "room.key"), key); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := string(rune('a' + i))
		cfg := config.Default()
		cfg.Listen = "127.0.0.1:0"
		cfg.DataDir = filepath.Join(dir, id)
		cfg.ServerID = id
		cfg.RoomID = opt.RoomID
		cfg.RoomKeyFile = filepath.Join(dir, "room.key")
		cfg.TLSCertFile = filepath.Join(dir, "server.pem")
		cfg.TLSKeyFile = filepath.Join(dir, "server.key")
		cfg.UsersFile = filepath.Join(dir, id, "users.json")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		// Few iterations keep tests fast; the hash records its own count.
		users, err := auth.OpenUsers(cfg.UsersFile, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := users.AddUser(User, Password); err != nil {
			t.Fatal(err)
		}
		if err := users.Add(Admin, AdminPassword, true); err != nil {
			t.Fatal(err)
		}
		s := &Server{Config: cfg, t: t, log: opt.Logger}
		s.start()
		r.Servers = append(r.Servers, s)
	}
	t.Cleanup(func() {
		for _, s := range r.Servers {
			s.Stop()
		}
	})
	return r
}

// Client is an HTTPS client that trusts the room CA.
func (r *Room) Client() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.CA.Pool(), MinVersion: tls.VersionTLS12}},
	}
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.New(s.Config, s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		s.t.Fatal(err)
	}
	s.Config.Listen = srv.Addr() // a restart comes back on the same port
	ctx, cancel := context.WithCancel(context.Background())
	s.Srv, s.cancel, s.done = srv, cancel, make(chan error, 1)
	go func() { s.done <- srv.Run(ctx) }()
}

// Addr is host:port.
func (s *Server) Addr() string { return s.Config.Listen }

// URL is "https://host:port".
func (s *Server) URL() string { return "https://" + s.Config.Listen }

// Running reports whether the server is up.
func (s *Server) Running() bool { return s.cancel != nil }

// Stop shuts the server down gracefully (no-op if stopped).
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	if err := <-s.done; err != nil {
		s.t.Errorf("servertest: %s: %v", s.Config.ServerID, err)
	}
	s.cancel = nil
}

// Restart stops the server if needed and starts it again on the same
// address with the same data, as after a reboot (new BootID).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port can take a moment to be free again
		if err = s.tryStart(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatal(err)
}

func (s *Server) tryStart() error {
	srv, err := server.New(s.Config, s.log)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		if strings.Contains(err.Error(), "address already in use") {
			return err
		}
		return fmt.Errorf("servertest: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Srv, s.cancel, s.done = srv, cancel, make(chan error, 1)
	go func() { s.done <- srv.Run(ctx) }()
	return nil
}
