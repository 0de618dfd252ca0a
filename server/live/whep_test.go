package live_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/encoder/fmp4"
	"twincap/encoder/h264"
	"twincap/encoder/segment"
	"twincap/server/live"
	"twincap/server/live/livetest"
)

const (
	goodTicket = "good-ticket"
	recID      = "room1-20261125T090000Z-abcd"
)

var authHeader = http.Header{"Authorization": {"Bearer " + goodTicket}}

// rig is a hub with its WHEP handler on a loopback HTTP server.
type rig struct {
	hub *live.Hub
	srv *httptest.Server
}

func newRig(t *testing.T, cfg live.Config, wcfg live.WHEPConfig) *rig {
	t.Helper()
	cfg.HostIPs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hub, err := live.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	if wcfg.Authorize == nil {
		wcfg.Authorize = func(r *http.Request) error {
			if r.Header.Get("Authorization") != "Bearer "+goodTicket {
				return errors.New("no valid ticket")
			}
			return nil
		}
	}
	w, err := live.NewWHEP(hub, wcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return &rig{hub: hub, srv: srv}
}

// testWriter sends the hub's log to the test's, and nowhere once the test
// is over (pion's goroutines may still log while closing).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dial connects a viewer and waits until the hub can send it an IDR.
func (r *rig) dial(ctx context.Context, t *testing.T, path string) *livetest.Client {
	t.Helper()
	c, err := livetest.Dial(ctx, livetest.ClientConfig{URL: r.srv.URL + path, Header: authHeader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := waitBound(ctx, r.hub, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitBound waits until the hub sees c connected, so the next IDR goes to
// it (a viewer still connecting starts at a later one).
func waitBound(ctx context.Context, hub *live.Hub, c *livetest.Client) error {
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	id := path.Base(c.Resource)
	for {
		st, err := hub.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st.Streams {
			for _, v := range s.Sessions {
				if v.ID == id && v.State != live.ViewerConnecting {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("session %s never connected on the hub's side: %w", id, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (r *rig) status(t *testing.T) live.Status {
	t.Helper()
	s, err := r.hub.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	recordOnce sync.Once
	recorded   livetest.Recording
)

// recording is 6 s of real encoder output, made once per test binary.
func recording(t *testing.T) livetest.Recording {
	recordOnce.Do(func() {
		recorded = livetest.Record(t, livetest.RecordConfig{Duration: 6 * time.Second})
	})
	if len(recorded.Segments) == 0 {
		t.Fatal("no recording (the first recording attempt failed)")
	}
	return recorded
}

// publishPaced publishes segs one SegmentDuration apart, as the box sends
// them, starting now; it returns when the last one is published.
func publishPaced(hub *live.Hub, id string, segs []segment.Segment, every time.Duration) {
	start := time.Now()
	for i, s := range segs {
		time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
		hub.Publish(id, s.Seq, s.Data)
	}
}

func TestWHEPPlaysTheLiveEdge(t *testing.T) {
	rec := recording(t)
	// A scheduling hiccup of the test machine must not make the hub cut
	// its queue (schedule): this test counts every frame.
	r := newRig(t, live.Config{MaxLag: 2 * time.Second}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	c := r.dial(ctx, t, live.PathWHEPCurrent)
	if want := live.SessionPath(recID, ""); !strings.HasPrefix(c.Resource, r.srv.URL+want) {
		t.Fatalf("Location %q, want under %q", c.Resource, want)
	}
	media := rec.Media()[:4]
	published := time.Now()
	go publishPaced(r.hub, recID, media, rec.Config.SegmentDuration)

	keys, err := c.WaitKeyframes(ctx, len(media))
	if err != nil {
		t.Fatalf("%v; status %+v", err, r.status(t))
	}
	t.Logf("publish to first frame: %v", keys[0].First.Sub(published))
	frames, err := c.WaitFrames(ctx, 15*len(media))
	if err != nil {
		t.Fatalf("%v; status %+v", err, r.status(t))
	}
	if !frames[0].Keyframe() || !slices.Equal(frames[0].NALTypes[:2], []byte{h264.NALSPS, h264.NALPPS}) {
		t.Fatalf("first frame has NAL types %v, want SPS, PPS, ..., IDR", frames[0].NALTypes)
	}
	for i, f := range frames {
		if f.Keyframe() && !slices.Contains(f.NALTypes, h264.NALSPS) {
			t.Errorf("keyframe %d without SPS in front: %v", i, f.NALTypes)
		}
		if i > 0 && f.RTPTime-frames[i-1].RTPTime != 90000/uint32(rec.Config.FPS) {
			t.Errorf("frame %d: RTP time step %d, want %d", i, f.RTPTime-frames[i-1].RTPTime, 90000/rec.Config.FPS)
		}
	}
	// Paced: the frames of a segment arrive over the segment's duration,
	// not in a burst.
	span := frames[len(frames)-1].Arrived.Sub(frames[0].Arrived)
	mediaSpan := time.Duration(frames[len(frames)-1].RTPTime-frames[0].RTPTime) * time.Second / 90000
	if d := span - mediaSpan; d < -150*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("%v of media arrived over %v: not paced in real time", mediaSpan, span)
	}
	// Each segment's IDR goes out when the segment is published.
	for i, k := range keys {
		want := published.Add(time.Duration(i) * rec.Config.SegmentDuration)
		if d := k.First.Sub(want); d < -50*time.Millisecond || d > 150*time.Millisecond {
			t.Errorf("keyframe %d arrived %v after its segment was published", i, d)
		}
	}

	// Every Opus packet of the published segments arrives (the viewer was
	// there before the first IDR, and audio never goes before it).
	wantAudio := 0
	for _, s := range media {
		f, err := fmp4.ParseFragment(s.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range f.Tracks {
			if tr.TrackID == fmp4.AudioTrackID {
				wantAudio += len(tr.Samples)
			}
		}
	}
	if wantAudio < 20 {
		t.Fatalf("the recording has %d audio packets in %d segments", wantAudio, len(media))
	}
	audio, err := c.WaitAudio(ctx, wantAudio)
	if err != nil {
		t.Fatalf("%v; status %+v", err, r.status(t))
	}
	for i := 1; i < len(audio); i++ {
		if d := audio[i].RTPTime - audio[i-1].RTPTime; d != 960 {
			t.Fatalf("audio packet %d: RTP time step %d, want 960 (20 ms)", i, d)
		}
	}
	// Audio and video start together: no audio goes out before the first
	// IDR (the two tracks are read by two goroutines, hence the margin).
	if audio[0].Arrived.Before(frames[0].First.Add(-20 * time.Millisecond)) {
		t.Errorf("audio began %v before the video's first IDR", frames[0].First.Sub(audio[0].Arrived))
	}

	st := r.status(t)
	if st.Current != recID || len(st.Streams) != 1 || st.Streams[0].Viewers != 1 || st.Streams[0].Published != uint64(len(media)) {
		t.Fatalf("status %+v", st)
	}
	if code, err := c.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE = %d, %v; want 200", code, err)
	}
	if st := r.status(t); st.Streams[0].Viewers != 0 {
		t.Fatalf("after DELETE: %d viewers", st.Streams[0].Viewers)
	}
	if code, err := c.Delete(ctx); err != nil || code != http.StatusNotFound {
		t.Fatalf("second DELETE = %d, %v; want 404", code, err)
	}
	// Nothing more arrives once the session is gone.
	before := len(c.Frames())
	r.hub.Publish(recID, 5, rec.Media()[4].Data)
	time.Sleep(1200 * time.Millisecond)
	if after := len(c.Frames()); after != before {
		t.Fatalf("%d frames arrived after DELETE", after-before)
	}
}

func TestViewerJoiningMidSegmentStartsAtTheNextIDR(t *testing.T) {
	rec := recording(t)
	r := newRig(t, live.Config{}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	r.hub.Publish(recID, 1, rec.Media()[0].Data)
	time.Sleep(400 * time.Millisecond)
	c := r.dial(ctx, t, "/api/v1/live/"+recID+"/whep")
	go publishPaced(r.hub, recID, rec.Media()[1:3], rec.Config.SegmentDuration*6/10)
	frames, err := c.WaitFrames(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !frames[0].Keyframe() || frames[0].NALTypes[0] != h264.NALSPS {
		t.Fatalf("first frame %v: want the IDR of the next segment, SPS first", frames[0].NALTypes)
	}
	if keys, err := c.WaitKeyframes(ctx, 2); err != nil || keys[0].RTPTime != frames[0].RTPTime {
		t.Fatalf("keyframes %v, %v", keys, err)
	}
}

func TestOldAndRepeatedSegmentsAreIgnored(t *testing.T) {
	rec := recording(t)
	r := newRig(t, live.Config{}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := rec.Media()
	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	c := r.dial(ctx, t, live.PathWHEPCurrent)
	// The live edge moves 1, 2, 4; a backfill then brings 3 and a retry 4.
	order := []segment.Segment{m[0], m[1], m[3], m[2], m[3]}
	go publishPaced(r.hub, recID, order, 700*time.Millisecond)
	if _, err := c.WaitKeyframes(ctx, 3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // after the last Publish, and longer than a segment
	keys, _ := c.WaitKeyframes(ctx, 0)
	if len(keys) != 3 {
		t.Fatalf("%d keyframes, want 3 (segments 1, 2 and 4)", len(keys))
	}
	st := r.status(t).Streams[0]
	if st.Published != 3 || st.Ignored != 2 || st.LastSeq != 4 {
		t.Fatalf("status %+v: want 3 published, 2 ignored, last seq 4", st)
	}
}

func TestEndClosesViewers(t *testing.T) {
	rec := recording(t)
	r := newRig(t, live.Config{}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	c := r.dial(ctx, t, live.PathWHEPCurrent)
	r.hub.Publish(recID, 1, rec.Media()[0].Data)
	if _, err := c.WaitKeyframes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.hub.End(recID)
	if st := r.status(t); st.Current != "" || len(st.Streams) != 0 {
		t.Fatalf("after End: %+v", st)
	}
	r.hub.Publish(recID, 2, rec.Media()[1].Data) // a late retry does not revive it
	if st := r.status(t); len(st.Streams) != 0 {
		t.Fatalf("a segment after End made it live again: %+v", st)
	}
	_, err := livetest.Dial(ctx, livetest.ClientConfig{URL: r.srv.URL + live.PathWHEPCurrent, Header: authHeader})
	if he := (*livetest.HTTPError)(nil); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Fatalf("Dial after End = %v, want 404", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.State().String() == "connected" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s := c.State().String(); s == "connected" {
		t.Fatalf("viewer still %s after End", s)
	}
}

func TestWHEPRefusals(t *testing.T) {
	rec := recording(t)
	r := newRig(t, live.Config{MaxViewers: 1}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dialErr := func(path string, cfg livetest.ClientConfig) int {
		t.Helper()
		cfg.URL = r.srv.URL + path
		c, err := livetest.Dial(ctx, cfg)
		if err == nil {
			_ = c.Close()
			return http.StatusCreated
		}
		var he *livetest.HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("Dial %s: %v", path, err)
		}
		return he.Status
	}
	if got := dialErr(live.PathWHEPCurrent, livetest.ClientConfig{Header: authHeader}); got != http.StatusNotFound {
		t.Errorf("nothing live: %d, want 404", got)
	}
	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	for _, tc := range []struct {
		name string
		path string
		cfg  livetest.ClientConfig
		want int
	}{
		{"no ticket", live.PathWHEPCurrent, livetest.ClientConfig{}, http.StatusUnauthorized},
		{"bad ticket", live.PathWHEPCurrent, livetest.ClientConfig{Header: http.Header{"Authorization": {"Bearer bad"}}}, http.StatusUnauthorized},
		{"unknown recording", "/api/v1/live/other-rec/whep", livetest.ClientConfig{Header: authHeader}, http.StatusNotFound},
		{"bad recording ID", "/api/v1/live/-x/whep", livetest.ClientConfig{Header: authHeader}, http.StatusBadRequest},
		{"no packetization-mode=1", live.PathWHEPCurrent, livetest.ClientConfig{Header: authHeader, H264: []string{"packetization-mode=0;profile-level-id=42e01f"}}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialErr(tc.path, tc.cfg); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}

	c := r.dial(ctx, t, live.PathWHEPCurrent)
	if got := dialErr(live.PathWHEPCurrent, livetest.ClientConfig{Header: authHeader}); got != http.StatusServiceUnavailable {
		t.Errorf("beyond MaxViewers: %d, want 503", got)
	}

	do := func(method, path, ctype, body string, hdr http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, r.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	session := strings.TrimPrefix(c.Resource, r.srv.URL)
	for _, tc := range []struct {
		name                string
		method, path, ctype string
		body                string
		hdr                 http.Header
		want                int
	}{
		{"status without ticket", "GET", live.PathStatus, "", "", nil, http.StatusUnauthorized},
		{"status", "GET", live.PathStatus, "", "", authHeader, http.StatusOK},
		{"offer as JSON", "POST", live.PathWHEPCurrent, "application/json", "{}", authHeader, http.StatusUnsupportedMediaType},
		{"offer not SDP", "POST", live.PathWHEPCurrent, "application/sdp", "hello", authHeader, http.StatusBadRequest},
		{"delete without ticket", "DELETE", session, "", "", nil, http.StatusUnauthorized},
		{"delete unknown session", "DELETE", live.SessionPath(recID, "nope"), "", "", authHeader, http.StatusNotFound},
		{"delete with the wrong recording", "DELETE", strings.Replace(session, recID, "other", 1), "", "", authHeader, http.StatusNotFound},
		{"trickle", "PATCH", session, "application/trickle-ice-sdpfrag", "a=end-of-candidates", authHeader, http.StatusMethodNotAllowed},
		{"viewer page needs no ticket", "GET", live.PathViewer, "", "", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(tc.method, tc.path, tc.ctype, tc.body, tc.hdr)
			if res.StatusCode != tc.want {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", res.Header)
			}
		})
	}
	if st := r.status(t); st.Streams[0].Viewers != 1 {
		t.Fatalf("the refusals changed the viewers: %+v", st)
	}
}

func TestCORSForThePairedServersPage(t *testing.T) {
	const paired = "https://127.0.0.2:8443"
	r := newRig(t, live.Config{}, live.WHEPConfig{AllowOrigins: []string{paired}})
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{paired, true}, {"https://evil.example", false}} {
		req, _ := http.NewRequest(http.MethodOptions, r.srv.URL+live.PathWHEPCurrent, nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Get("Access-Control-Allow-Origin")
		if res.StatusCode != http.StatusNoContent || (got == tc.origin) != tc.allow {
			t.Fatalf("preflight from %s: %d, Allow-Origin %q", tc.origin, res.StatusCode, got)
		}
		if tc.allow && (!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Location")) {
			t.Fatalf("preflight headers %v", res.Header)
		}
	}
	if _, err := live.NewWHEP(r.hub, live.WHEPConfig{Authorize: func(*http.Request) error { return nil }, AllowOrigins: []string{"host:1"}}, nil); err == nil {
		t.Fatal("NewWHEP took an origin without a scheme")
	}
	if _, err := live.NewWHEP(r.hub, live.WHEPConfig{}, nil); err == nil {
		t.Fatal("NewWHEP without Authorize")
	}
}

func TestViewerPage(t *testing.T) {
	r := newRig(t, live.Config{}, live.WHEPConfig{Viewer: live.ViewerConfig{Servers: []string{"https://10.0.0.1:8443", "https://10.0.0.2:8443"}}})
	res, err := http.Get(r.srv.URL + live.PathViewer)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, want := range []string{"window.twincapStats", "requestVideoFrameCallback", "RTCPeerConnection",
		"application/sdp", `"servers":["https://10.0.0.1:8443","https://10.0.0.2:8443"]`, "Watch from "} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Nothing is loaded from elsewhere: no CDN, no library.
	for _, bad := range []string{"<script src", "<link", "@import", "//cdn", "http://", "https://"} {
		if i := strings.Index(page, bad); i >= 0 && !strings.Contains(page[max(0, i-40):i+40], "10.0.0.") {
			t.Errorf("page refers to something external: %q", page[max(0, i-40):min(len(page), i+40)])
		}
	}
	if _, err := live.NewWHEP(r.hub, live.WHEPConfig{Authorize: func(*http.Request) error { return nil },
		Viewer: live.ViewerConfig{Servers: []string{"10.0.0.1:8443"}}}, nil); err == nil {
		t.Fatal("a server without a scheme was taken")
	}
}

// TestOfferWithTheRecordingsOwnProfile: an offer with exactly the avcC's
// profile and constraints, and no audio section, gets video only.
func TestOfferWithTheRecordingsOwnProfile(t *testing.T) {
	rec := recording(t)
	r := newRig(t, live.Config{}, live.WHEPConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.hub.Publish(recID, 0, rec.Segments[0].Data)
	profile := strings.TrimPrefix(r.status(t).Streams[0].Codec, "avc1.")
	if len(profile) != 6 {
		t.Fatalf("codec %q", r.status(t).Streams[0].Codec)
	}
	fmtp := "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile[:4] + "1f"
	c, err := livetest.Dial(ctx, livetest.ClientConfig{URL: r.srv.URL + live.PathWHEPCurrent, Header: authHeader, NoAudio: true,
		H264: []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", fmtp}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(c.Answer, fmtp) || strings.Contains(c.Answer, "m=audio") {
		t.Fatalf("answer without %q, or with audio:\n%s", fmtp, c.Answer)
	}
	if err := waitBound(ctx, r.hub, c); err != nil {
		t.Fatal(err)
	}
	r.hub.Publish(recID, 1, rec.Media()[0].Data)
	if _, err := c.WaitKeyframes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Audio()); n != 0 {
		t.Fatalf("%d audio packets without an audio section", n)
	}
}
