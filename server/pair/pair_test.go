package pair

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/server/auth"
	"twincap/server/settings"
	"twincap/server/wire"
)

// peer is a fake paired server: it serves its settings to a valid peer
// token only.
type peer struct {
	srv     *httptest.Server
	tickets *auth.Tickets
	mu      sync.Mutex
	s       settings.Settings
	status  int    // when not 0, the reply's status
	body    string // when not "", the reply's body
}

func newPeer(t *testing.T, tickets *auth.Tickets) *peer {
	p := &peer{tickets: tickets}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		scheme, tok, _ := strings.Cut(r.Header.Get(wire.HeaderAuthorization), " ")
		if _, err := p.tickets.CheckPeer(tok); r.URL.Path != wire.PathPeerSettings || scheme != wire.PeerScheme || err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(wire.Error{Error: "no peer token"})
			return
		}
		if p.status != 0 {
			w.WriteHeader(p.status)
		}
		if p.body != "" {
			_, _ = w.Write([]byte(p.body))
			return
		}
		_ = json.NewEncoder(w).Encode(p.s)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *peer) set(f func(*peer)) { p.mu.Lock(); defer p.mu.Unlock(); f(p) }

func base(role settings.Role, peerAddr string) settings.Settings {
	s := settings.Default()
	s.RoomID = "room1"
	s.Paired.Role = role
	if role == settings.Preferred {
		s.Paired.Preferred, s.Paired.Redundant = "10.0.0.1", settings.Addr(peerAddr)
	} else {
		s.Paired.Preferred, s.Paired.Redundant = settings.Addr(peerAddr), "10.0.0.2"
	}
	return s
}

func TestCheck(t *testing.T) {
	key, _ := auth.NewRoomKey()
	mine, _ := auth.NewTickets(key, "room1", 0, nil)
	stranger, _ := auth.NewTickets(func() []byte { k, _ := auth.NewRoomKey(); return k }(), "room1", 0, nil)
	p := newPeer(t, mine)
	addr := p.srv.Listener.Addr().String()
	tlsConf := p.srv.Client().Transport.(*http.Transport).TLSClientConfig

	for _, tc := range []struct {
		name     string
		local    settings.Settings
		peer     func(*peer)
		token    *auth.Tickets
		state    State
		blocking []string
		non      int
		err      string
	}{
		{name: "same", local: base(settings.Preferred, addr), token: mine, state: Match},
		{name: "the redundant server checks the preferred", local: base(settings.Redundant, addr), token: mine, state: Match},
		{name: "device id", local: base(settings.Preferred, addr), token: mine,
			peer:  func(p *peer) { p.s.DeviceID, p.s.DeviceURL = "dev-2", "https://evidence.example/2" },
			state: Blocking, blocking: []string{"Device ID", "Device URL"}},
		{name: "retry attempts", local: base(settings.Preferred, addr), token: mine,
			peer:  func(p *peer) { p.s.Evidence.RetryAttempts = 9 },
			state: Mismatch, non: 1},
		{name: "paired and source may differ", local: base(settings.Preferred, addr), token: mine,
			peer:  func(p *peer) { p.s.Paired.Role = settings.Preferred; p.s.Source.FPS = 15 },
			state: Match},
		{name: "unpaired", local: func() settings.Settings { s := settings.Default(); s.RoomID = "room1"; return s }(), token: mine, state: Unpaired},
		{name: "wrong room key", local: base(settings.Preferred, addr), token: stranger, state: Unreachable, err: "HTTP 401: no peer token"},
		{name: "peer refuses", local: base(settings.Preferred, addr), token: mine,
			peer: func(p *peer) { p.status = http.StatusInternalServerError; p.body = `{"error":"disk"}` }, state: Unreachable, err: "HTTP 500: disk"},
		{name: "unknown field", local: base(settings.Preferred, addr), token: mine,
			peer: func(p *peer) { p.body = `{"colour":"red"}` }, state: Unreachable, err: "colour: unknown field"},
		{name: "nobody there", local: base(settings.Preferred, "127.0.0.1:1"), token: mine, state: Unreachable, err: "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.set(func(p *peer) {
				p.s, p.status, p.body = base(settings.Redundant, "10.0.0.1"), 0, ""
				if tc.local.Paired.Role == settings.Redundant {
					p.s = base(settings.Preferred, "10.0.0.2")
				}
				if tc.peer != nil {
					tc.peer(p)
				}
			})
			var logs bytes.Buffer
			c, err := New(Config{ServerID: "a", TLS: tlsConf}, func() settings.Settings { return tc.local }, func() string { return tc.token.PeerToken("a") },
				slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			r := c.check(context.Background())
			if r.State != tc.state || !slices.Equal(r.Blocking, tc.blocking) || r.NonBlocking != tc.non || !strings.Contains(r.Error, tc.err) {
				t.Fatalf("report %+v", r)
			}
			if (tc.err == "") != (r.Error == "") {
				t.Fatalf("error %q, want one containing %q", r.Error, tc.err)
			}
			if got := c.Last(); got.State != r.State || got.CheckedAt.IsZero() {
				t.Fatalf("Last = %+v", got)
			}
			// The outcome is logged once, with the details of what differs.
			c.check(context.Background())
			if n := strings.Count(logs.String(), "msg=\"pair: settings"); tc.state != Unreachable && tc.state != Unpaired && n != 1 {
				t.Errorf("logged %d times:\n%s", n, logs.String())
			}
			for _, b := range tc.blocking {
				if !strings.Contains(logs.String(), b) {
					t.Errorf("log does not name %s:\n%s", b, logs.String())
				}
			}
		})
	}
}

func TestRunChecksWhenAskedAndNudged(t *testing.T) {
	key, _ := auth.NewRoomKey()
	tickets, _ := auth.NewTickets(key, "room1", 0, nil)
	p := newPeer(t, tickets)
	addr := p.srv.Listener.Addr().String()
	p.set(func(p *peer) { p.s = base(settings.Redundant, "10.0.0.1") })
	var mu sync.Mutex
	local := base(settings.Preferred, addr)
	c, err := New(Config{ServerID: "a", Interval: time.Hour, TLS: p.srv.Client().Transport.(*http.Transport).TLSClientConfig},
		func() settings.Settings { mu.Lock(); defer mu.Unlock(); return local }, func() string { return tickets.PeerToken("a") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r, err := c.Check(ctx)
	if err != nil || r.State != Match {
		t.Fatalf("Check = %+v, %v", r, err)
	}
	mu.Lock()
	local.FIPS = true
	mu.Unlock()
	c.Nudge()
	deadline := time.Now().Add(5 * time.Second)
	for c.Last().State != Blocking {
		if time.Now().After(deadline) {
			t.Fatalf("a nudge did not check again: %+v", c.Last())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.Last().Blocking; !slices.Equal(got, []string{"FIPS"}) {
		t.Fatalf("blocking %v", got)
	}
	// Check gives up with its context when Run is not there to answer.
	idle, _ := New(Config{}, func() settings.Settings { return local }, func() string { return "" }, nil)
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if _, err := idle.Check(short); err == nil {
		t.Fatal("Check without Run returned")
	}
}

func TestPeerAddr(t *testing.T) {
	for _, tc := range []struct {
		role                 settings.Role
		preferred, redundant settings.Addr
		want                 string
		ok                   bool
	}{
		{settings.Preferred, "10.0.0.1", "10.0.0.2:0", "10.0.0.2:8443", true},
		{settings.Redundant, "10.0.0.1:9000", "10.0.0.2", "10.0.0.1:9000", true},
		{settings.Preferred, "10.0.0.1", "", "", false},
		{settings.Redundant, "", "", "", false},
	} {
		s := settings.Default()
		s.Paired = settings.Paired{Role: tc.role, Preferred: tc.preferred, Redundant: tc.redundant}
		got, ok, err := PeerAddr(s)
		if err != nil || got != tc.want || ok != tc.ok {
			t.Errorf("PeerAddr(%+v) = %q, %v, %v; want %q, %v", s.Paired, got, ok, err, tc.want, tc.ok)
		}
	}
}
