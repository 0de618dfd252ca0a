package box

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/camera"
	"twincap/drivers/camera/testpattern"
	"twincap/firmware/config"
	"twincap/firmware/roomclient"
	"twincap/firmware/uplink"
	"twincap/server/servertest"
	"twincap/server/wire"
)

// newTestBox runs a box against real in-process servers, on a small paced
// test pattern with no microphone.
func newTestBox(t *testing.T, room *servertest.Room, edit func(*config.Config)) *Box {
	t.Helper()
	return newTestBoxWith(t, room, edit, nil)
}

// newTestBoxWith is newTestBox whose Deps editDeps may change.
func newTestBoxWith(t *testing.T, room *servertest.Room, edit func(*config.Config), editDeps func(*Deps)) *Box {
	t.Helper()
	cfg := config.Default()
	cfg.Preferred.Addr = room.Servers[0].Addr()
	cfg.Redundant.Addr = room.Servers[1].Addr()
	cfg.RoomID = room.ID
	cfg.JournalDir = t.TempDir()
	cfg.Video = config.Video{Width: 160, Height: 120, FPS: 10, Bitrate: 100_000, Preset: "ultrafast"}
	if edit != nil {
		edit(&cfg)
	}
	deps := Deps{
		OpenCamera: func(c config.Config) (camera.Camera, error) {
			return testpattern.New(testpattern.Config{Width: c.Video.Width, Height: c.Video.Height, FPS: c.Video.FPS, Paced: true})
		},
		OpenMicrophone: func(config.Config) (audio.Microphone, error) { return nil, nil },
		TLS:            &tls.Config{RootCAs: room.CA.Pool(), MinVersion: tls.VersionTLS12},
		Log:            slog.New(slog.DiscardHandler),
		Uplink:         uplink.Config{Heartbeat: 50 * time.Millisecond, Retry: 50 * time.Millisecond, RequestTimeout: 500 * time.Millisecond},
	}
	if editDeps != nil {
		editDeps(&deps)
	}
	b, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func waitStatus(t *testing.T, b *Box, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if st := b.Status(); ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; status %+v", what, b.Status())
	return Status{}
}

func TestNoServerForLostGraceStopsAndKeepsTheJournal(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	b := newTestBox(t, room, func(c *config.Config) { c.LostGrace = config.Duration{Duration: time.Second} })
	ctx := context.Background()
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	if err := b.Login(ctx, servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	id, err := b.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, "a few segments", func(s Status) bool { return s.Segments >= 3 })
	for _, s := range room.Servers {
		s.Stop()
	}
	st := waitStatus(t, b, "the interview stopped", func(s Status) bool { return s.Phase == Idle.String() })
	if !strings.Contains(st.Message, "no room server") || len(st.Owed) != 1 || st.Owed[0] != id {
		t.Fatalf("after losing every server: message %q, owed %v; want the interview stopped and %s owed", st.Message, st.Owed, id)
	}
	for _, s := range room.Servers {
		s.Restart()
	}
	waitStatus(t, b, "the journal delivered", func(s Status) bool { return len(s.Owed) == 0 })
	for _, s := range room.Servers {
		c, err := roomclient.New(s.Addr(), &tls.Config{RootCAs: room.CA.Pool(), MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := c.Login(ctx, servertest.User, servertest.Password)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := c.WithTicket(rep.Ticket).Get(ctx, id)
		if err != nil || rs.State != wire.StateFinalized {
			t.Errorf("server %s: %+v, %v; want finalized", s.Config.ServerID, rs, err)
		}
	}
}

func TestStartNeedsALogin(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	b := newTestBox(t, room, nil)
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	if _, err := b.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no operator is logged in") {
		t.Fatalf("Start without a login = %v", err)
	}
	if err := b.Login(context.Background(), servertest.User, "wrong password"); err == nil {
		t.Fatal("a wrong password logged in")
	}
}
