package pair

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"twincap/server/settings"
	"twincap/server/wire"
)

// Defaults.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 5 * time.Second
)

// State is the outcome of one check.
type State string

// States.
const (
	// Unpaired: the settings name no paired server.
	Unpaired State = "unpaired"
	// Unreachable: the paired server's settings could not be read.
	Unreachable State = "unreachable"
	// Match: nothing differs that should match.
	Match State = "match"
	// Mismatch: non-blocking differences only.
	Mismatch State = "mismatch"
	// Blocking: a blocking setting differs; no interview can start.
	Blocking State = "blocking"
)

// Report is the outcome of the latest check.
type Report struct {
	State State `json:"state"`
	// Peer is the paired server's address (host:port).
	Peer      string    `json:"peer,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Error says why the peer's settings could not be read (Unreachable),
	// or that the paired-server settings are wrong.
	Error string `json:"error,omitempty"`
	// Blocking lists the labels of the blocking settings that differ;
	// NonBlocking counts the others; Message is what the box would show.
	Blocking    []string `json:"blocking,omitempty"`
	NonBlocking int      `json:"non_blocking"`
	Message     string   `json:"message,omitempty"`
	// Comparison is this server's settings (a) against the peer's (b),
	// ignored differences included.
	Comparison *settings.Comparison `json:"comparison,omitempty"`
}

// Config configures a Checker.
type Config struct {
	// ServerID is this server's, named in its peer tokens.
	ServerID string
	Interval time.Duration // between checks; 0: DefaultInterval
	Timeout  time.Duration // of one read; 0: DefaultTimeout
	// TLS trusts the room CA.
	TLS *tls.Config
	Now func() time.Time // nil: time.Now
}

// Checker compares this server's settings with the paired server's. Run
// owns the checking; the other methods may be called from any goroutine.
type Checker struct {
	cfg    Config
	local  func() settings.Settings
	token  func() string
	log    *slog.Logger
	client *http.Client
	asks   chan chan Report
	nudge  chan struct{}

	mu   sync.Mutex // leaf lock: guards last
	last Report
}

// New makes a checker. local returns this server's current settings;
// token makes a peer token (auth.Service.PeerToken).
func New(cfg Config, local func() settings.Settings, token func() string, log *slog.Logger) (*Checker, error) {
	if local == nil || token == nil {
		return nil, errors.New("pair: settings and peer tokens are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	return &Checker{
		cfg: cfg, local: local, token: token, log: log,
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}},
		asks:   make(chan chan Report),
		nudge:  make(chan struct{}, 1),
	}, nil
}

// Run checks at once, then every Interval, when nudged and when asked,
// until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	defer c.client.CloseIdleConnections()
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	c.check(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.check(ctx)
		case <-c.nudge:
			c.check(ctx)
		case reply := <-c.asks:
			reply <- c.check(ctx)
		}
	}
}

// Check asks Run to compare the settings now and returns the report.
func (c *Checker) Check(ctx context.Context) (Report, error) {
	reply := make(chan Report, 1)
	select {
	case c.asks <- reply:
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
}

// Nudge asks Run for a check soon (after a settings change) without
// waiting for it.
func (c *Checker) Nudge() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Last is the latest report; its CheckedAt is zero before the first check.
func (c *Checker) Last() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.last
	r.Blocking = slices.Clone(r.Blocking)
	return r
}

// PeerAddr is the paired server's host:port as s names it; ok is false
// when s names none (a room with one server).
func PeerAddr(s settings.Settings) (addr string, ok bool, err error) {
	peer := s.Paired.Redundant
	if s.Paired.Role == settings.Redundant {
		peer = s.Paired.Preferred
	}
	if peer == "" {
		return "", false, nil
	}
	addr, err = peer.HostPort()
	if err != nil {
		return "", true, fmt.Errorf("pair: %w", err)
	}
	return addr, true, nil
}

// check compares once and records (and, when the outcome changed, logs)
// the report.
func (c *Checker) check(ctx context.Context) Report {
	mine := c.local()
	r := Report{CheckedAt: c.cfg.Now().UTC()}
	addr, ok, err := PeerAddr(mine)
	switch {
	case err != nil:
		r.State, r.Error = Unreachable, err.Error()
	case !ok:
		r.State = Unpaired
	default:
		r.Peer = addr
		theirs, err := c.fetch(ctx, addr)
		if err != nil {
			r.State, r.Error = Unreachable, err.Error()
			// A server of another room refuses this room's peer token;
			// its public health still says which room it is in.
			room, herr := c.peerRoom(ctx, addr)
			if herr != nil || room == mine.RoomID {
				break
			}
			theirs = mine.Clone()
			theirs.RoomID = room
			r.Error = fmt.Sprintf("%s (the paired server is in room %q; its other settings were not compared)", err, room)
		}
		cmp := settings.Compare(mine, theirs)
		r.Comparison = &cmp
		for _, d := range cmp.Of(settings.Blocking) {
			r.Blocking = append(r.Blocking, d.Field.Label)
		}
		r.NonBlocking = len(cmp.Of(settings.NonBlocking))
		r.Message = cmp.Message()
		switch {
		case cmp.Blocking():
			r.State = Blocking
		case !cmp.Match():
			r.State = Mismatch
		default:
			r.State = Match
		}
	}
	c.mu.Lock()
	prev := c.last
	c.last = r
	c.mu.Unlock()
	if outcome(prev) != outcome(r) {
		c.logReport(r)
	}
	return r
}

// outcome is what a report says, without its time: a change is logged.
func outcome(r Report) string {
	s := string(r.State) + "\x00" + r.Peer + "\x00" + r.Error
	if r.Comparison != nil {
		s += "\x00" + strings.Join(r.Comparison.Details(), "\x00")
	}
	return s
}

func (c *Checker) logReport(r Report) {
	switch r.State {
	case Unpaired:
		c.log.Info("pair: no paired server in the settings; nothing to compare")
	case Unreachable:
		c.log.Warn("pair: cannot read the paired server's settings", "peer", r.Peer, "err", r.Error)
	case Match:
		c.log.Info("pair: settings match the paired server's", "peer", r.Peer)
	default:
		level := slog.LevelWarn
		if r.State == Blocking {
			level = slog.LevelError
		}
		c.log.Log(context.Background(), level, "pair: settings differ from the paired server's", "peer", r.Peer,
			"blocking", r.Blocking, "non_blocking", r.NonBlocking, "message", r.Message)
		for _, d := range r.Comparison.Differences {
			if d.Field.Class != settings.Ignored {
				c.log.Log(context.Background(), level, "pair: setting differs", "peer", r.Peer, "difference", d.String())
			}
		}
	}
}

// peerRoom reads the paired server's Room ID from its public health route.
func (c *Checker) peerRoom(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+wire.PathHealth, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h wire.Health
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("pair: health of %s: HTTP %d", addr, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil {
		return "", fmt.Errorf("pair: health of %s: %w", addr, err)
	}
	return h.RoomID, nil
}

// fetch reads the paired server's settings.
func (c *Checker) fetch(ctx context.Context, addr string) (settings.Settings, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+wire.PathPeerSettings, nil)
	if err != nil {
		return settings.Settings{}, fmt.Errorf("pair: %w", err)
	}
	req.Header.Set(wire.HeaderAuthorization, wire.PeerScheme+" "+c.token())
	resp, err := c.client.Do(req)
	if err != nil {
		return settings.Settings{}, fmt.Errorf("pair: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, settings.MaxDocument+1))
	if err != nil {
		return settings.Settings{}, fmt.Errorf("pair: read %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var we wire.Error
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &we) == nil && we.Error != "" {
			msg = we.Error
		}
		return settings.Settings{}, fmt.Errorf("pair: %s: HTTP %d: %s", addr, resp.StatusCode, msg)
	}
	s, err := settings.Decode(body)
	if err != nil {
		return settings.Settings{}, fmt.Errorf("pair: the settings of %s: %w", addr, err)
	}
	return s, nil
}
