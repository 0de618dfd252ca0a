package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"twincap/firmware/box"
	"twincap/server/live"
	"twincap/server/live/livetest"
	"twincap/server/wire"
)

// The box's server icons say "viewing from this server" only while
// someone really watches the livestream from that server: in unbuffered
// mode a viewer on the preferred server turns its icon from "online and
// recording" to "recording and viewing", the other server's icon stays,
// and the icon goes back when the viewer leaves.
func TestIconsFollowRealViewers(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Unbuffered, fallback: "any"})
	pref := r.servers[0]
	r.readyAndLoggedIn()
	r.action(box.PathStart)

	const (
		recording = "Server online and recording"
		viewing   = "Server recording, viewing from this server"
	)
	icons := func(want0, want1 string) func() bool {
		return func() bool {
			s, err := r.status()
			return err == nil && len(s.Servers) == 2 && s.Servers[0].Icon == want0 && s.Servers[1].Icon == want1
		}
	}
	r.waitFor("both icons "+recording, 20*time.Second, icons(recording, recording))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tls}}
	viewer, err := livetest.Dial(ctx, livetest.ClientConfig{
		URL:        "https://" + pref.addr + live.PathWHEPCurrent,
		Header:     http.Header{"Authorization": {"Bearer " + r.ticket()}},
		HTTPClient: hc,
	})
	if err != nil {
		t.Fatalf("viewer on the preferred server: %v%s", err, r.logs())
	}
	defer viewer.Close()
	if _, err := viewer.WaitFrames(ctx, 5); err != nil {
		t.Fatalf("viewer frames: %v%s", err, r.logs())
	}
	r.waitFor("the preferred icon to say a viewer watches from it", 10*time.Second, icons(viewing, recording))
	st := r.mustStatus()
	if st.Servers[0].Viewers != 1 || st.Servers[1].Viewers != 0 {
		t.Fatalf("viewers per server %d, %d; want 1, 0", st.Servers[0].Viewers, st.Servers[1].Viewers)
	}

	if code, err := viewer.Delete(ctx); err != nil || code/100 != 2 {
		t.Fatalf("viewer leaves: %d %v", code, err)
	}
	r.waitFor("the preferred icon back to "+recording, 10*time.Second, icons(recording, recording))
	r.action(box.PathStop)
}
