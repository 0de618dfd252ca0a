package box

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"twincap/drivers/leds"
	"twincap/server/servertest"
	"twincap/server/settings"
)

func TestUpdateHold(t *testing.T) {
	cases := []struct {
		st        Status
		interview bool
		owed      int
	}{
		{Status{Phase: "idle"}, false, 0},
		{Status{Phase: "idle", Owed: []string{"a", "b"}}, false, 2},
		{Status{Phase: "recording"}, true, 0},
		{Status{Phase: "stopping", Owed: []string{"a"}}, true, 1},
		{Status{Phase: "shutting down"}, true, 0},
	}
	for _, c := range cases {
		h := UpdateHold(c.st)
		if h.Interview != c.interview || len(h.Owed) != c.owed {
			t.Errorf("UpdateHold(%s, owed %v) = %+v", c.st.Phase, c.st.Owed, h)
		}
	}
}

func TestInMaintenanceOfTheServers(t *testing.T) {
	now := time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)
	in := settings.Settings{Maintenance: []settings.Window{{Start: 2 * 60, Length: settings.Duration(time.Hour)}}}
	out := settings.Settings{Maintenance: []settings.Window{{Start: 4 * 60, Length: settings.Duration(time.Hour)}}}
	ok := func(name string, s settings.Settings) fetched { return fetched{name: name, asked: true, s: s} }
	cases := []struct {
		name string
		got  []fetched
		want bool
		err  string
	}{
		{"preferred in its window", []fetched{ok("preferred", in), ok("redundant", out)}, true, ""},
		{"redundant in its window", []fetched{ok("preferred", out), ok("redundant", in)}, true, ""},
		{"neither", []fetched{ok("preferred", out), ok("redundant", out)}, false, ""},
		{"one away, the other outside", []fetched{{name: "preferred"}, ok("redundant", out)}, false, ""},
		{"no windows at all", []fetched{ok("preferred", settings.Settings{})}, false, ""},
		{"none readable", []fetched{{name: "preferred"}, {name: "redundant", asked: true, err: errors.New("HTTP 500")}}, false,
			"the preferred server is not connected\nthe redundant server's settings: HTTP 500"},
	}
	for _, c := range cases {
		got, err := inMaintenance(c.got, now)
		if got != c.want || fmt.Sprint(err) != map[bool]string{true: c.err, false: "<nil>"}[c.err != ""] {
			t.Errorf("%s: %v, %v; want %v, %q", c.name, got, err, c.want, c.err)
		}
	}
}

func TestInMaintenanceReadsTheRoomsSettings(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	b := newTestBox(t, room, nil)
	ctx := context.Background()
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	now := time.Now()
	if _, err := b.InMaintenance(ctx, now); err == nil || !strings.Contains(err.Error(), "no operator session") {
		t.Fatalf("without a session: %v", err)
	}
	if err := b.Login(ctx, servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	if in, err := b.InMaintenance(ctx, now); in || err != nil {
		t.Fatalf("no windows: %v, %v", in, err)
	}
	start := now.Add(-10 * time.Minute)
	patchSettings(t, room, room.Servers[1], fmt.Sprintf(`{"maintenance":[{"start":"%02d:%02d","length":"1h"}]}`, start.Hour(), start.Minute()))
	if in, err := b.InMaintenance(ctx, now); !in || err != nil {
		t.Fatalf("inside the redundant server's window: %v, %v", in, err)
	}
	if in, _ := b.InMaintenance(ctx, now.Add(2*time.Hour)); in {
		t.Fatal("two hours later still inside a one-hour window")
	}
	if got := LEDs(b.Status()); got.Updating || got.Fault == leds.FaultServers {
		t.Errorf("LEDs %+v", got)
	}
}
