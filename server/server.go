package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"twincap/server/auth"
	"twincap/server/config"
	"twincap/server/httpapi"
	"twincap/server/pki"
	"twincap/server/store"
)

// ShutdownGrace is how long Run lets requests in flight finish.
const ShutdownGrace = 10 * time.Second

// Server is one room server.
type Server struct {
	cfg    config.Config
	log    *slog.Logger
	bootID string
	store  *store.Store
	auth   *auth.Service
	api    *httpapi.API
	tls    *tls.Config

	mu sync.Mutex // leaf lock: guards ln
	ln net.Listener
}

// New opens the store and users and loads the keys named by cfg. cfg must
// have passed Validate (config.Load does that).
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("server: boot id: %w", err)
	}
	s := &Server{cfg: cfg, log: log, bootID: hex.EncodeToString(b[:])}
	pair, err := pki.LoadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	key, err := auth.LoadRoomKey(cfg.RoomKeyFile)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.store, err = store.New(store.Config{Dir: cfg.DataDir, ServerID: cfg.ServerID, RoomID: cfg.RoomID}, log); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.auth, err = auth.New(auth.Config{
		UsersFile:  cfg.UsersFile,
		RoomID:     cfg.RoomID,
		RoomKey:    key,
		TicketTTL:  time.Duration(cfg.TicketTTL),
		Iterations: cfg.PasswordIterations,
	}); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.api, err = httpapi.New(httpapi.Config{ServerID: cfg.ServerID, RoomID: cfg.RoomID, BootID: s.bootID}, s.store, s.auth, log); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return s, nil
}

// BootID changes on every start; clients see a reboot through it.
func (s *Server) BootID() string { return s.bootID }

// Handler is the API without TLS (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.api }

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

// Run serves HTTPS until ctx ends, then shuts down gracefully. It returns
// nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	hs := &http.Server{
		Handler:           s.api,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 16 MiB segment on a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("server: serving", "addr", ln.Addr().String(), "server_id", s.cfg.ServerID, "room_id", s.cfg.RoomID, "boot_id", s.bootID)
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
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
	s.log.Info("server: stopped")
	return nil
}
