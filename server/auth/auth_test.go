package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const testIter = 1000 // tests only; production uses DefaultIterations

func newService(t *testing.T, dir string, key []byte, clk *clock) *Service {
	t.Helper()
	s, err := New(Config{UsersFile: filepath.Join(dir, "users.json"), RoomID: "room1", RoomKey: key, Iterations: testIter, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := NewRoomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "users.json")
	u, err := OpenUsers(path, testIter, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pass string
		want             error
	}{
		{"right", "alice", "correct horse", nil},
		{"wrong password", "alice", "correct horsE", ErrBadCredentials},
		{"empty password", "alice", "", ErrBadCredentials},
		{"unknown user", "bob", "correct horse", ErrBadCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := u.Verify(tc.user, tc.pass); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, user, pass string
		want             error
	}{
		{"exists", "alice", "something long", ErrUserExists},
		{"short password", "carol", "short", ErrWeakPassword},
		{"bad name", "../x", "something long", ErrBadUsername},
		{"empty name", "", "something long", ErrBadUsername},
	} {
		t.Run("add "+tc.name, func(t *testing.T) {
			if err := u.AddUser(tc.user, tc.pass); !errors.Is(err, tc.want) {
				t.Fatalf("AddUser = %v, want %v", err, tc.want)
			}
		})
	}
	if err := u.SetPassword("nobody", "something long"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("SetPassword unknown = %v", err)
	}
	if err := u.SetPassword("alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if err := u.Verify("alice", "correct horse"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password still works: %v", err)
	}
	// The file holds hashes, not passwords, is private, and reloads.
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "battery") {
		t.Fatal("password in users file")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v", fi.Mode())
	}
	// A second handle (another process: useradd) adds a user; the first sees it.
	u2, err := OpenUsers(path, testIter, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u2.AddUser("bob", "bob's password"); err != nil {
		t.Fatal(err)
	}
	if err := u.Verify("bob", "bob's password"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := u.Verify("alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultIterationsHash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	u, err := OpenUsers(filepath.Join(t.TempDir(), "users.json"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if u.users["alice"].Iterations != DefaultIterations || len(u.users["alice"].Salt) != 16 {
		t.Fatalf("record = %+v", u.users["alice"])
	}
	if err := u.Verify("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
}

func TestTicketsAcrossServers(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	key := mustKey(t)
	dirA := t.TempDir()
	a := newService(t, dirA, key, clk)
	if err := a.Users().AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	// Server B of the same room: same key, its own users file (a copy).
	dirB := t.TempDir()
	b := newService(t, dirB, key, clk)
	other := newService(t, t.TempDir(), mustKey(t), clk)
	otherRoom, err := New(Config{UsersFile: filepath.Join(t.TempDir(), "u"), RoomID: "room2", RoomKey: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	rep, err := a.Login("alice", "correct horse", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.User != "alice" || !rep.Expires.Equal(clk.Now().Add(DefaultTicketTTL)) {
		t.Fatalf("reply = %+v", rep)
	}
	payload, sig, _ := strings.Cut(rep.Ticket, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	tampered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "alice", "mallo", 1))) + "." + sig

	for _, tc := range []struct {
		name   string
		svc    *Service
		ticket string
		want   error
	}{
		{"issuer", a, rep.Ticket, nil},
		{"paired server", b, rep.Ticket, nil},
		{"other room key", other, rep.Ticket, ErrBadTicket},
		{"other room id", otherRoom, rep.Ticket, ErrBadTicket},
		{"tampered payload", b, tampered, ErrBadTicket},
		{"tampered signature", b, payload + "." + sig[:len(sig)-2] + "AA", ErrBadTicket},
		{"no signature", b, payload, ErrBadTicket},
		{"empty", b, "", ErrBadTicket},
		{"garbage", b, "x.y", ErrBadTicket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.svc.Check(tc.ticket)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if err == nil && c.User != "alice" {
				t.Fatalf("claims = %+v", c)
			}
		})
	}

	// Logout revokes on the server that received it.
	if err := b.Logout(rep.Ticket); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Check(rep.Ticket); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after logout: %v", err)
	}

	// Expiry via the injected clock.
	rep2, err := a.Login("alice", "correct horse", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultTicketTTL - time.Second)
	if _, err := b.Check(rep2.Ticket); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := b.Check(rep2.Ticket); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	// A ticket from a server whose clock runs far ahead is refused.
	fast := &clock{t: clk.Now().Add(time.Hour)}
	ahead, err := NewTickets(key, "room1", 0, fast.Now)
	if err != nil {
		t.Fatal(err)
	}
	tk, _, _ := ahead.Issue("alice")
	if _, err := b.Check(tk); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("future ticket: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	s := newService(t, t.TempDir(), mustKey(t), clk)
	if err := s.Users().AddUser("alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Login("alice", "wrong", "10.0.0.1"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		clk.Advance(time.Second)
	}
	_, err := s.Login("alice", "correct horse", "10.0.0.1")
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("6th attempt: %v", err)
	}
	if rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("retry after %v", rl.RetryAfter)
	}
	// Another remote is not affected.
	if _, err := s.Login("alice", "correct horse", "10.0.0.2"); err != nil {
		t.Fatalf("other remote: %v", err)
	}
	// After the window the pair may try again.
	clk.Advance(rl.RetryAfter)
	if _, err := s.Login("alice", "correct horse", "10.0.0.1"); err != nil {
		t.Fatalf("after window: %v", err)
	}
}

func TestRoomKeyFile(t *testing.T) {
	dir := t.TempDir()
	k := mustKey(t)
	p := filepath.Join(dir, "room.key")
	if err := WriteRoomKey(p, k); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
		ok      bool
	}{
		{"raw", k, true},
		{"hex", []byte("  " + strings.ToUpper(string(hexOf(k))) + "\n"), true},
		{"short", k[:16], false},
		{"bad hex", []byte(strings.Repeat("zz", 32)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := filepath.Join(dir, tc.name)
			if err := os.WriteFile(q, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadRoomKey(q)
			if (err == nil) != tc.ok || (tc.ok && string(got) != string(k)) {
				t.Fatalf("LoadRoomKey = %x, %v", got, err)
			}
		})
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}
