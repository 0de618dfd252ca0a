package server

import (
	"context"
	"crypto/fips140"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/config"
	"twincap/server/httpapi"
	"twincap/server/live"
	"twincap/server/pair"
	"twincap/server/pki"
	"twincap/server/settings"
	"twincap/server/store"
)

// ShutdownGrace is how long Run lets requests in flight finish.
const ShutdownGrace = 10 * time.Second

// Files under the data folder.
const (
	SettingsFile = "settings.json"
	AuditFile    = "audit.log"
)

// SettingsPath is where the server's settings live.
func SettingsPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, SettingsFile) }

// AuditPath is where the server's audit trail lives.
func AuditPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, AuditFile) }

// Server is one room server.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	bootID   string
	store    *store.Store
	auth     *auth.Service
	settings *settings.Store
	trail    *audit.Log
	pair     *pair.Checker
	api      *httpapi.API
	uploads  *uploads
	live     *live.Hub
	whep     *live.WHEP
	tls      *tls.Config

	mu sync.Mutex // leaf lock: guards ln
	ln net.Listener
}

// New opens the store, users, settings and audit trail and loads the keys
// named by cfg. cfg must have passed Validate (config.Load does that). A
// server whose settings require FIPS 140-3 mode is refused outside it
// (EnterFIPS gets a process there). Close releases what New opened if Run
// is never called.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("server: boot id: %w", err)
	}
	s := &Server{cfg: cfg, log: log, bootID: hex.EncodeToString(b[:])}
	if err := s.open(); err != nil {
		s.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	return s, nil
}

func (s *Server) open() error {
	cfg := s.cfg
	initial := settings.Default()
	initial.RoomID = cfg.RoomID
	var err error
	if s.settings, err = settings.Open(SettingsPath(cfg), initial); err != nil {
		return err
	}
	cur := s.settings.Get()
	if err := cur.CheckFIPS(fips140.Enabled()); err != nil {
		return err
	}
	cert, err := pki.LoadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return err
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	roomCA, err := pki.RoomPool(cfg.TLSCertFile, cfg.CAFile)
	if err != nil {
		return err
	}
	key, err := auth.LoadRoomKey(cfg.RoomKeyFile)
	if err != nil {
		return err
	}
	if s.trail, err = audit.Open(audit.Config{Path: AuditPath(cfg)}); err != nil {
		if errors.Is(err, audit.ErrBroken) {
			return fmt.Errorf("%w\n(the trail is kept as it is for investigation; 'twincap-server audit -config FILE set-aside' moves it away so that a new one can begin)", err)
		}
		return err
	}
	if n := s.trail.TornBytes(); n > 0 {
		s.log.Warn("server: the audit trail ended in an unfinished entry (a power cut); it was cut and the cut audited", "bytes", n)
	}
	if cur.RoomID != cfg.RoomID {
		// The room is the configuration's: tickets and recordings follow it.
		next := cur.Clone()
		next.RoomID = cfg.RoomID
		if _, err := s.settings.Replace(next); err != nil {
			return err
		}
		if _, err := s.trail.Append(audit.Record{Actor: audit.SystemActor, Action: audit.SettingsChange, Details: fmt.Sprintf(
			"room_id %q follows the config file's %q", cur.RoomID, cfg.RoomID)}); err != nil {
			return err
		}
		s.log.Warn("server: the settings' room_id follows the config file", "was", cur.RoomID, "now", cfg.RoomID)
	}
	if s.store, err = store.New(store.Config{Dir: cfg.DataDir, ServerID: cfg.ServerID, RoomID: cfg.RoomID}, s.log); err != nil {
		return err
	}
	if s.auth, err = auth.New(auth.Config{
		UsersFile:  cfg.UsersFile,
		RoomID:     cfg.RoomID,
		RoomKey:    key,
		TicketTTL:  time.Duration(cfg.TicketTTL),
		Iterations: cfg.PasswordIterations,
	}); err != nil {
		return err
	}
	if s.pair, err = pair.New(pair.Config{
		ServerID: cfg.ServerID,
		TLS:      &tls.Config{RootCAs: roomCA, MinVersion: tls.VersionTLS12},
	}, s.settings.Get, func() string { return s.auth.PeerToken(cfg.ServerID) }, s.log); err != nil {
		return err
	}
	s.uploads = newUploads(s)
	if err := s.newLive(); err != nil {
		return err
	}
	if s.api, err = httpapi.New(httpapi.Config{ServerID: cfg.ServerID, RoomID: cfg.RoomID, BootID: s.bootID}, httpapi.Deps{
		Store: s.store, Auth: s.auth, Settings: s.settings, Audit: s.trail, Pair: s.pair, Log: s.log,
		Evidence: s.uploads.Queue, Finalized: s.uploads.Finalized, SettingsChanged: s.uploads.SettingsChanged,
		Live: s.live, Watching: s.live.Watching,
	}); err != nil {
		return err
	}
	return s.api.FinishAudits()
}

// Close releases what New opened (the audit trail); Run does it when it
// returns.
func (s *Server) Close() error {
	if s.trail == nil {
		return nil
	}
	if err := s.trail.Close(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// BootID changes on every start; clients see a reboot through it.
func (s *Server) BootID() string { return s.bootID }

// Handler is the API and the livestream without TLS (for tests with
// httptest).
func (s *Server) Handler() http.Handler { return s.handler() }

// handler routes the livestream (WHEP, what is live, the viewer page) to
// the live package and everything else to the API.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/live", s.whep)
	mux.Handle("/api/v1/live/", s.whep)
	mux.Handle("/live", s.whep)
	mux.Handle("/", s.api)
	return mux
}

// Users is the server's users file.
func (s *Server) Users() *auth.Users { return s.auth.Users() }

// Listen binds cfg.Listen now, so Addr is known before Run.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (host:port), or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves HTTPS, compares the settings with the paired server's and
// uploads finalized recordings to the evidence store (when the settings
// name one) until ctx ends, then shuts down gracefully and closes the audit trail.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	hs := &http.Server{
		Handler:           s.handler(),
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 16 MiB segment on a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	cur := s.settings.Get()
	s.log.Info("server: serving", "addr", ln.Addr().String(), "server_id", s.cfg.ServerID, "room_id", s.cfg.RoomID, "boot_id", s.bootID,
		"fips", fips140.Enabled(), "settings_fingerprint", settings.Fingerprint(cur), "role", cur.Paired.Role)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.pair.Run(gctx) })
	g.Go(func() error { return s.uploads.Run(gctx) })
	g.Go(func() error { return s.live.Run(gctx) })
	g.Go(func() error {
		errc := make(chan error, 1)
		go func() { errc <- hs.ServeTLS(ln, "", "") }()
		select {
		case err := <-errc:
			return fmt.Errorf("server: %w", err)
		case <-gctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
		defer cancel()
		err := hs.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("server: shutdown: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	s.log.Info("server: stopped")
	return nil
}
