package box

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"twincap/firmware/roomclient"
	"twincap/server/servertest"
	"twincap/server/settings"
	"twincap/server/wire"
)

func TestCompareSettings(t *testing.T) {
	base := settings.Default()
	base.RoomID = "room1"
	with := func(f func(*settings.Settings)) settings.Settings { s := base.Clone(); f(&s); return s }
	ok := func(name string, s settings.Settings) fetched { return fetched{name: name, asked: true, s: s} }
	for _, tc := range []struct {
		name      string
		got       []fetched
		nilResult bool
		blocked   bool
		blocking  []string
		non       int
		details   int
		unchecked string
		message   string
	}{
		{name: "one server", got: []fetched{ok("preferred", base)}, nilResult: true},
		{name: "same", got: []fetched{ok("preferred", base), ok("redundant", base)}},
		{name: "ignored differences", got: []fetched{ok("preferred", base), ok("redundant", with(func(s *settings.Settings) {
			s.Paired.Role, s.Source.FPS = settings.Redundant, 15
		}))}},
		{name: "device id", got: []fetched{ok("preferred", base), ok("redundant", with(func(s *settings.Settings) {
			s.DeviceID, s.DeviceURL = "dev-2", "https://evidence.example/2"
		}))}, blocked: true, blocking: []string{"Device ID", "Device URL"}, details: 2, message: "Device ID and Device URL"},
		{name: "fips and a non-blocking one", got: []fetched{ok("preferred", with(func(s *settings.Settings) { s.FIPS = true })), ok("redundant", with(func(s *settings.Settings) {
			s.Evidence.RetryAttempts = 9
		}))}, blocked: true, blocking: []string{"FIPS"}, non: 1, details: 2, message: "1 other setting also differs"},
		{name: "non-blocking", got: []fetched{ok("preferred", base), ok("redundant", with(func(s *settings.Settings) {
			s.Evidence.RetryAttempts, s.Mode = 9, wire.Unbuffered
		}))}, non: 2, details: 2, message: "2 settings differ"},
		{name: "redundant away", got: []fetched{ok("preferred", base), {name: "redundant"}}, unchecked: "redundant server is not connected"},
		{name: "redundant in another room", got: []fetched{ok("preferred", base), {name: "redundant", asked: true, err: errors.New("HTTP 401: auth: invalid ticket"), room: "room2"}},
			blocked: true, blocking: []string{"Room ID"}, details: 1, message: "Room ID"},
		{name: "unreadable, same room", got: []fetched{ok("preferred", base), {name: "redundant", asked: true, err: errors.New("HTTP 500"), room: "room1"}},
			unchecked: "redundant server's settings could not be read (HTTP 500)"},
		{name: "preferred unreadable", got: []fetched{{name: "preferred", asked: true, err: errors.New("HTTP 500")}, ok("redundant", base)},
			unchecked: "preferred server's settings could not be read (HTTP 500)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, details, blocked := compareSettings(tc.got)
			if tc.nilResult {
				if m != nil || blocked {
					t.Fatalf("one server: %+v %v", m, blocked)
				}
				return
			}
			if m == nil || blocked != tc.blocked || !slices.Equal(m.Blocking, tc.blocking) || m.NonBlocking != tc.non ||
				len(details) != tc.details || !strings.Contains(m.Unchecked, tc.unchecked) || (tc.unchecked == "") != (m.Unchecked == "") ||
				!strings.Contains(m.Message, tc.message) || (tc.message == "") != (m.Message == "") {
				t.Fatalf("compareSettings = %+v, %q, %v", m, details, blocked)
			}
		})
	}
}

// patchSettings changes a server's settings as its administrator.
// adminTicket logs the room's administrator in on server s.
func adminTicket(t *testing.T, room *servertest.Room, s *servertest.Server) string {
	t.Helper()
	c, err := roomclient.New(s.Addr(), &tls.Config{RootCAs: room.CA.Pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Login(context.Background(), servertest.Admin, servertest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Ticket
}

func patchSettings(t *testing.T, room *servertest.Room, s *servertest.Server, doc string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, s.URL()+wire.PathSettings, strings.NewReader(doc))
	req.Header.Set(wire.HeaderAuthorization, "Bearer "+adminTicket(t, room, s))
	resp, err := room.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("patch %s: %d", doc, resp.StatusCode)
	}
}

func TestStartComparesTheServersSettings(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	b := newTestBox(t, room, nil)
	ctx := context.Background()
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	if err := b.Login(ctx, servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	patchSettings(t, room, room.Servers[1], `{"device_id":"dev-2","device_url":"https://evidence.example/2"}`)
	_, err := b.Start(ctx)
	if !errors.Is(err, ErrCannotStart) || !strings.Contains(err.Error(), "Device ID") {
		t.Fatalf("Start with a blocking mismatch = %v", err)
	}
	// The status follows the reply.
	st := waitStatus(t, b, "the mismatch shown", func(s Status) bool { return s.Mismatch != nil })
	if st.Phase != Idle.String() || st.Mismatch == nil || !slices.Equal(st.Mismatch.Blocking, []string{"Device ID", "Device URL"}) ||
		!strings.Contains(st.Message, "Device ID") {
		t.Fatalf("status after a refused start: %+v %+v", st, st.Mismatch)
	}
	patchSettings(t, room, room.Servers[0], `{"device_id":"dev-2","device_url":"https://evidence.example/2","evidence":{"retry_attempts":9}}`)
	id, err := b.Start(ctx)
	if err != nil {
		t.Fatalf("Start with a non-blocking mismatch: %v", err)
	}
	st = waitStatus(t, b, "the interview recording", func(s Status) bool { return s.RecordingID == id })
	if st.RecordingID != id || st.Mismatch == nil || len(st.Mismatch.Blocking) != 0 || st.Mismatch.NonBlocking != 1 || !strings.Contains(st.Message, "1 setting differs") {
		t.Fatalf("status: %+v %+v", st, st.Mismatch)
	}
	if _, err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
