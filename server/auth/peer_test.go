package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdmins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.json")
	u, err := OpenUsers(path, testIter, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddUser("op", "operator-pass"); err != nil {
		t.Fatal(err)
	}
	if err := u.Add("boss", "admin-password", true); err != nil {
		t.Fatal(err)
	}
	// A users file from before the flag: no "admin" field at all.
	if b, _ := os.ReadFile(path); strings.Count(string(b), `"admin"`) != 1 {
		t.Fatalf("users file: want the flag on the administrator only:\n%s", b)
	}
	check := func(name string, want bool) {
		t.Helper()
		got, err := u.IsAdmin(name)
		if err != nil || got != want {
			t.Fatalf("IsAdmin(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	check("op", false)
	check("boss", true)
	check("nobody", false)
	// A new password keeps the role.
	if err := u.SetPassword("boss", "another-password"); err != nil {
		t.Fatal(err)
	}
	check("boss", true)
	// Another process (twincap-server usermod) changes the file: seen at once.
	other, err := OpenUsers(path, testIter, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a different mtime on coarse clocks
	if err := other.SetAdmin("boss", false); err != nil {
		t.Fatal(err)
	}
	if err := other.SetAdmin("op", true); err != nil {
		t.Fatal(err)
	}
	check("boss", false)
	check("op", true)
	if err := other.SetAdmin("nobody", true); !errors.Is(err, ErrNoUser) {
		t.Fatalf("SetAdmin of an unknown user: %v", err)
	}
}

func TestPeerTokens(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	key := mustKey(t)
	a, err := NewTickets(key, "room1", 0, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTickets(key, "room1", 0, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	otherRoom, _ := NewTickets(key, "room2", 0, clk.Now)
	otherKey, _ := NewTickets(mustKey(t), "room1", 0, clk.Now)

	tok := a.PeerToken("srv-a")
	if id, err := b.CheckPeer(tok); err != nil || id != "srv-a" {
		t.Fatalf("CheckPeer = %q, %v", id, err)
	}
	ticket, _, err := a.Issue("alice")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, tc := range []struct {
		name  string
		check *Tickets
		token string
		want  error
	}{
		{"another room", otherRoom, tok, ErrBadTicket},
		{"another room key", otherKey, tok, ErrBadTicket},
		{"a ticket", b, ticket, ErrBadTicket},
		{"another server's name", b, "srv-b." + parts[1] + "." + parts[2], ErrBadTicket},
		{"another time", b, parts[0] + ".1" + parts[1] + "." + parts[2], ErrBadTicket},
		{"bad name", b, "../x." + parts[1] + "." + parts[2], ErrBadTicket},
		{"empty", b, "", ErrBadTicket},
		{"two parts", b, parts[0] + "." + parts[1], ErrBadTicket},
		{"too long", b, strings.Repeat("x", maxTicketLen+1), ErrBadTicket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.check.CheckPeer(tc.token); !errors.Is(err, tc.want) {
				t.Fatalf("CheckPeer = %v, want %v", err, tc.want)
			}
		})
	}
	// A peer token is no ticket either.
	if _, err := b.Check(tok); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("Check(peer token) = %v", err)
	}
	// Good for PeerTokenLife either way.
	clk.Advance(PeerTokenLife)
	if _, err := b.CheckPeer(tok); err != nil {
		t.Fatalf("at the end of its life: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := b.CheckPeer(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after its life: %v", err)
	}
	early := a.PeerToken("srv-a")
	clk.Advance(-PeerTokenLife - 2*time.Second)
	if _, err := b.CheckPeer(early); !errors.Is(err, ErrExpired) {
		t.Fatalf("from the future: %v", err)
	}
}
