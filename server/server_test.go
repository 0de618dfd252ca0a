package server_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/server/httpapi"
	"twincap/server/live"
	"twincap/server/servertest"
	"twincap/server/wire"
)

type client struct {
	t      *testing.T
	hc     *http.Client
	base   string
	ticket string
}

func (c *client) do(method, p string, body any, hdr map[string]string, out any) int {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r, _ := http.NewRequest(method, c.base+p, rd)
	if c.ticket != "" {
		r.Header.Set(wire.HeaderAuthorization, "Bearer "+c.ticket)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if p, ok := out.(*[]byte); ok {
			*p = b
		} else if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %q: %v", method, p, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func rp(p, id string, seq ...uint64) string {
	p = strings.Replace(p, "{id}", id, 1)
	if len(seq) > 0 {
		p = strings.Replace(p, "{seq}", strconv.FormatUint(seq[0], 10), 1)
	}
	return p
}

// fragments makes a short fragmented MP4 with ffmpeg and splits it into the
// init segment (ftyp+moov) and media segments (moof+mdat), as the box does.
func fragments(t *testing.T) [][]byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required for this test (apt-get install ffmpeg)")
	}
	out := filepath.Join(t.TempDir(), "in.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=duration=3", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	var cur []byte
	for len(data) >= 8 {
		size := uint64(binary.BigEndian.Uint32(data))
		typ := string(data[4:8])
		if size == 1 {
			size = binary.BigEndian.Uint64(data[8:])
		}
		if size < 8 || size > uint64(len(data)) {
			t.Fatalf("bad box %q size %d", typ, size)
		}
		box := data[:size]
		data = data[size:]
		switch typ {
		case "moof":
			if cur != nil {
				segs = append(segs, cur)
			}
			cur = append([]byte(nil), box...)
		case "mfra":
		default:
			cur = append(cur, box...)
		}
	}
	segs = append(segs, cur)
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	return segs
}

// TestRoomEndToEnd drives two real servers over HTTPS the way the box does:
// one login valid on both, lockstep segments, a server restart in the
// middle with resume from NextSeq, stop on both, byte-identical playable MP4s.
func TestRoomEndToEnd(t *testing.T) {
	segs := fragments(t)
	room := servertest.NewRoom(t, 2, servertest.Options{})
	hc := room.Client()
	a := &client{t: t, hc: hc, base: room.Servers[0].URL()}
	b := &client{t: t, hc: hc, base: room.Servers[1].URL()}

	var h wire.Health
	if code := b.do("GET", wire.PathHealth, nil, nil, &h); code != 200 || h.ServerID != "b" {
		t.Fatalf("health b: %d %+v", code, h)
	}
	boot := h.BootID

	var login wire.LoginReply
	if code := a.do("POST", wire.PathLogin, wire.LoginRequest{Username: servertest.User, Password: servertest.Password}, nil, &login); code != 200 {
		t.Fatalf("login: %d", code)
	}
	a.ticket, b.ticket = login.Ticket, login.Ticket // a ticket from A works on B

	id := segment.NewID("room1", time.Now(), "abcd")
	req := wire.CreateRequest{ID: id, RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: time.Now().UTC()}
	for _, c := range []*client{a, b} {
		if code := c.do("POST", wire.PathRecordings, req, nil, nil); code != http.StatusCreated {
			t.Fatalf("create on %s: %d", c.base, code)
		}
	}
	put := func(c *client, seq uint64) {
		t.Helper()
		var ack wire.SegmentAck
		if code := c.do("PUT", rp(wire.PathSegment, id, seq), segs[seq], map[string]string{wire.HeaderChecksum: segment.Sum(segs[seq]).String()}, &ack); code != 200 || ack.NextSeq != seq+1 {
			t.Fatalf("put %d on %s: %d %+v", seq, c.base, code, ack)
		}
	}
	half := uint64(len(segs) / 2)
	for seq := range half {
		put(a, seq)
		put(b, seq)
	}
	// B reboots; A carries on alone.
	room.Servers[1].Stop()
	for seq := half; seq < uint64(len(segs)); seq++ {
		put(a, seq)
	}
	room.Servers[1].Restart()
	if code := b.do("GET", wire.PathHealth, nil, nil, &h); code != 200 || h.BootID == boot {
		t.Fatalf("after restart: %d, boot %s (was %s)", code, h.BootID, boot)
	}
	// The box restarts the recording on B and backfills from NextSeq.
	var st wire.RecordingState
	if code := b.do("POST", wire.PathRecordings, req, nil, &st); code != 200 || st.NextSeq != half {
		t.Fatalf("resume on b: %d %+v", code, st)
	}
	for seq := st.NextSeq; seq < uint64(len(segs)); seq++ {
		put(b, seq)
	}
	var medias [][]byte
	for _, c := range []*client{a, b} {
		if code := c.do("POST", rp(wire.PathStop, id), wire.StopRequest{Count: uint64(len(segs)), StoppedAt: time.Now().UTC()}, nil, &st); code != 200 || st.State != wire.StateFinalized {
			t.Fatalf("stop on %s: %d %+v", c.base, code, st)
		}
		var media []byte
		if code := c.do("GET", rp(wire.PathMedia, id), nil, nil, &media); code != 200 {
			t.Fatalf("media: %d", code)
		}
		medias = append(medias, media)
	}
	if !bytes.Equal(medias[0], medias[1]) {
		t.Fatal("the two servers hold different recordings")
	}
	if want := bytes.Join(segs, nil); !bytes.Equal(medias[0], want) {
		t.Fatalf("media is %d bytes, want %d", len(medias[0]), len(want))
	}
	p := filepath.Join(t.TempDir(), "media.mp4")
	if err := os.WriteFile(p, medias[0], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	if d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || d < 2.5 || d > 3.5 {
		t.Fatalf("duration %q", out)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("decode: %v\n%s", err, out)
	}
}

// The livestream is served beside the API: nothing without a login but the
// viewer page (which asks for one), and what is live to a logged-in user.
func TestLivestreamNeedsALogin(t *testing.T) {
	room := servertest.NewRoom(t, 1, servertest.Options{})
	hc := room.Client()
	base := room.Servers[0].URL()
	post, err := http.NewRequest("POST", base+"/api/v1/live/whep", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/sdp")
	resp, err := hc.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WHEP offer without a login: %d, want 401", resp.StatusCode)
	}
	resp, err = hc.Get(base + "/live")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "RTCPeerConnection") || !strings.Contains(strings.ToLower(string(page)), "password") {
		t.Fatalf("viewer page: %d, %d bytes; want the page with its login form", resp.StatusCode, len(page))
	}
	a := &client{t: t, hc: hc, base: base}
	var login wire.LoginReply
	if code := a.do("POST", wire.PathLogin, wire.LoginRequest{Username: servertest.User, Password: servertest.Password}, nil, &login); code != 200 {
		t.Fatalf("login: %d", code)
	}
	a.ticket = login.Ticket
	if code := a.do("GET", "/api/v1/live", nil, nil, nil); code != http.StatusOK {
		t.Fatalf("what is live, logged in: %d", code)
	}
}

// TestEveryServedRouteNeedsALogin walks both route tables the server
// serves, the API's (httpapi.Routes, held against its mux by
// TestRouteTableIsTheMux) and the livestream's (live.Routes), on a real
// server over TLS: each route that is not public refuses a request without
// a ticket, and one with a forged ticket, with 401 and an error message.
func TestEveryServedRouteNeedsALogin(t *testing.T) {
	room := servertest.NewRoom(t, 1, servertest.Options{})
	c := &client{t: t, hc: room.Client(), base: room.Servers[0].URL()}
	type route struct {
		method, path string
		public       bool
	}
	var routes []route
	for _, rt := range httpapi.Routes() {
		routes = append(routes, route{rt.Method, rt.Path, rt.Public})
	}
	for _, rt := range live.Routes() {
		routes = append(routes, route{rt.Method, rt.Path, rt.Public})
	}
	fill := strings.NewReplacer("{id}", "rec-1", "{seq}", "0", "{session}", "s1")
	for _, rt := range routes {
		if rt.public {
			continue
		}
		for _, ticket := range []string{"", "bm9wZQ.bm9wZQ"} {
			t.Run(rt.method+" "+rt.path+" "+map[bool]string{true: "none", false: "forged"}[ticket == ""], func(t *testing.T) {
				c.t, c.ticket = t, ticket
				var body []byte
				code := c.do(rt.method, fill.Replace(rt.path), []byte("{}"), nil, &body)
				var e wire.Error
				if code != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Fatalf("status %d, body %q; want 401 with an error message", code, body)
				}
			})
		}
	}
}
