package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/settings"
	"twincap/server/store"
	"twincap/server/wire"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t        *testing.T
	dir      string
	srv      *httptest.Server
	api      *API
	auth     *auth.Service
	store    *store.Store
	settings *settings.Store
	trail    *audit.Log
	ticket   string     // alice, an operator
	clock    *testClock // the clock of logins and tickets
}

// testClock is the injected clock of auth: it stands still until a test
// moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Users of every fixture: alice is an operator, root an administrator.
const (
	operatorPassword = "correct horse"
	adminPassword    = "admin password"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

func newFixtureWith(t *testing.T, p Pair) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.New(store.Config{Dir: filepath.Join(dir, "data"), ServerID: "a", RoomID: "room1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := auth.NewRoomKey()
	clk := &testClock{now: time.Now()}
	au, err := auth.New(auth.Config{UsersFile: filepath.Join(dir, "users.json"), RoomID: "room1", RoomKey: key, Iterations: 1000, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := au.Users().AddUser("alice", operatorPassword); err != nil {
		t.Fatal(err)
	}
	if err := au.Users().Add("root", adminPassword, true); err != nil {
		t.Fatal(err)
	}
	initial := settings.Default()
	initial.RoomID = "room1"
	ss, err := settings.Open(filepath.Join(dir, "data", "settings.json"), initial)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.Open(audit.Config{Path: filepath.Join(dir, "data", "audit.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trail.Close() })
	deps := Deps{Store: st, Auth: au, Settings: ss, Audit: trail}
	if p != nil {
		deps.Pair = p
	}
	api, err := New(Config{ServerID: "a", RoomID: "room1", BootID: "boot1"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, srv: httptest.NewServer(api), api: api, auth: au, store: st, settings: ss, trail: trail, clock: clk}
	t.Cleanup(f.srv.Close)
	f.ticket = f.login("alice", operatorPassword)
	return f
}

func (f *fixture) login(user, pass string) string {
	f.t.Helper()
	rep := wire.LoginReply{}
	if code := f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: user, Password: pass}, &rep); code != 200 {
		f.t.Fatalf("login %s: %d", user, code)
	}
	return rep.Ticket
}

func path(p string, kv ...string) string {
	for i := 0; i < len(kv); i += 2 {
		p = strings.Replace(p, "{"+kv[i]+"}", kv[i+1], 1)
	}
	return p
}

// req sends body (nil, []byte, or a value to encode as JSON).
func (f *fixture) req(method, p, ticket string, body any, hdr map[string]string) *http.Response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(method, f.srv.URL+p, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if ticket != "" {
		r.Header.Set(wire.HeaderAuthorization, "Bearer "+ticket)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

func (f *fixture) do(method, p, ticket string, body, out any) int {
	f.t.Helper()
	resp := f.req(method, p, ticket, body, nil)
	defer resp.Body.Close()
	if out != nil {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, out); err != nil && resp.StatusCode < 300 {
			f.t.Fatalf("%s %s: decode %q: %v", method, p, b, err)
		}
	}
	return resp.StatusCode
}

func (f *fixture) put(id string, seq uint64, body []byte, sum string) (int, wire.Error) {
	f.t.Helper()
	resp := f.req("PUT", path(wire.PathSegment, "id", id, "seq", strconv.FormatUint(seq, 10)), f.ticket, body, map[string]string{wire.HeaderChecksum: sum})
	defer resp.Body.Close()
	var e wire.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func (f *fixture) create(id string) {
	f.t.Helper()
	if code := f.do("POST", wire.PathRecordings, f.ticket, wire.CreateRequest{ID: id, RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0}, nil); code != http.StatusCreated {
		f.t.Fatalf("create %s: %d", id, code)
	}
}

func (f *fixture) segFiles(id string) []string {
	ents, _ := os.ReadDir(filepath.Join(f.dir, "data", "recordings", id, "segments"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// snapshot is every file of the server's data folder (recordings,
// segments, settings, audit trail) and its contents.
func (f *fixture) snapshot() map[string]string {
	f.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(f.dir, "data"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, f.dir)] = string(body)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// unchangedSince fails the test for each file of the data folder that
// changed, appeared or went since the snapshot.
func (f *fixture) unchangedSince(before map[string]string) {
	f.t.Helper()
	after := f.snapshot()
	for k, v := range before {
		if w, ok := after[k]; !ok {
			f.t.Errorf("%s went", k)
		} else if w != v {
			f.t.Errorf("%s changed", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			f.t.Errorf("%s appeared", k)
		}
	}
}

func TestEveryRouteNeedsTicket(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	before := f.snapshot()
	for _, rt := range Routes() {
		p := path(rt.Path, "id", "rec1", "seq", "0")
		for _, tc := range []struct {
			name, ticket string
		}{{"none", ""}, {"bad", "bm9wZQ.bm9wZQ"}, {"garbage", "x"}} {
			t.Run(rt.Method+" "+rt.Path+" "+tc.name, func(t *testing.T) {
				resp := f.req(rt.Method, p, tc.ticket, "{}", nil)
				resp.Body.Close()
				switch {
				case rt.Public && resp.StatusCode == http.StatusUnauthorized && rt.Path != wire.PathLogin:
					t.Fatalf("public route answered 401")
				case !rt.Public && resp.StatusCode != http.StatusUnauthorized:
					t.Fatalf("status %d, want 401", resp.StatusCode)
				case !rt.Public && resp.Header.Get("WWW-Authenticate") == "":
					t.Fatal("no WWW-Authenticate")
				}
			})
		}
	}
	// Nothing in the data folder changed, and the recording is untouched.
	f.unchangedSince(before)
	var st wire.RecordingState
	if code := f.do("GET", path(wire.PathRecording, "id", "rec1"), f.ticket, nil, &st); code != 200 || st.State != wire.StateRecording {
		t.Fatalf("after: %d %+v", code, st)
	}
	var h wire.Health
	if code := f.do("GET", wire.PathHealth, "", nil, &h); code != 200 || h.ServerID != "a" || h.RoomID != "room1" || h.BootID != "boot1" {
		t.Fatalf("health: %d %+v", code, h)
	}
}

// TestRouteTableIsTheMux holds Routes(), which the tests of every route
// walk, against the patterns the API really registers, so that a route
// cannot be added without them.
func TestRouteTableIsTheMux(t *testing.T) {
	f := newFixture(t)
	var table []string
	for _, rt := range Routes() {
		table = append(table, rt.Method+" "+rt.Path)
	}
	got := slices.Clone(f.api.mux.patterns)
	slices.Sort(table)
	slices.Sort(got)
	if !slices.Equal(table, got) {
		t.Fatalf("Routes() lists\n  %v\nthe mux serves\n  %v", table, got)
	}
}

// TestExpiredTicketEveryRoute moves the clock past the tickets' lifetime:
// every route that needs a ticket (or an administrator's) refuses the
// expired one with 401 and an error that says it expired, and nothing
// changes: recordings, segments, settings, audit trail. A new login then
// works again.
func TestExpiredTicketEveryRoute(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	b := []byte("segment bytes")
	if code, e := f.put("rec1", 0, b, segment.Sum(b).String()); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("put: %d %+v", code, e)
	}
	admin := f.login("root", adminPassword)
	before := f.snapshot()
	f.clock.Add(auth.DefaultTicketTTL + time.Second)
	for _, rt := range Routes() {
		if rt.Public || rt.Peer {
			continue
		}
		p := path(rt.Path, "id", "rec1", "seq", "1")
		for _, who := range []struct{ name, ticket string }{{"operator", f.ticket}, {"admin", admin}} {
			t.Run(rt.Method+" "+rt.Path+" "+who.name, func(t *testing.T) {
				resp := f.req(rt.Method, p, who.ticket, `{"device_id":"changed"}`, map[string]string{wire.HeaderChecksum: segment.Sum(b).String()})
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var e wire.Error
				if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "expired") {
					t.Fatalf("status %d, body %s; want 401 saying the ticket expired", resp.StatusCode, body)
				}
				if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, "invalid_token") {
					t.Fatalf("WWW-Authenticate %q", h)
				}
			})
		}
	}
	f.unchangedSince(before)
	// A new login, at the same moved clock, works.
	f.ticket = f.login("alice", operatorPassword)
	var st wire.RecordingState
	if code := f.do("GET", path(wire.PathRecording, "id", "rec1"), f.ticket, nil, &st); code != 200 || st.State != wire.StateRecording {
		t.Fatalf("after a new login: %d %+v", code, st)
	}
}

func TestBadIDs(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	b := []byte("data")
	sum := segment.Sum(b).String()
	for _, raw := range []string{
		"..", "%2e%2e", "%2E%2E", ".", "a%2Fb", "a%2fb", "-x", "_x", "a%00b", "a%20b",
		strings.Repeat("x", 65), "rec1%2F..%2Frec2", "%252e%252e",
	} {
		for _, rt := range Routes() {
			if !strings.Contains(rt.Path, "{id}") {
				continue
			}
			t.Run(rt.Method+" "+rt.Path+" "+raw, func(t *testing.T) {
				resp := f.req(rt.Method, path(rt.Path, "id", raw, "seq", "0"), f.ticket, b, map[string]string{wire.HeaderChecksum: sum})
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 (%s)", resp.StatusCode, body)
				}
				var e wire.Error
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("body %q is not a wire.Error", body)
				}
			})
		}
	}
	// Dot segments elsewhere too, and a path-like ID in the JSON body.
	for _, p := range []string{"/api/v1/recordings/rec1/../rec1/stop", "/api/v1/%2e%2e/recordings", "/api/v1/recordings/rec1/segments/%2e%2e"} {
		resp := f.req("POST", p, f.ticket, "{}", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, resp.StatusCode)
		}
	}
	if code := f.do("POST", wire.PathRecordings, f.ticket, wire.CreateRequest{ID: "../evil", Mode: wire.Buffered}, nil); code != 400 {
		t.Errorf("create ../evil: %d", code)
	}
	// Nothing was written anywhere but rec1.
	ents, _ := os.ReadDir(filepath.Join(f.dir, "data", "recordings"))
	if len(ents) != 1 || ents[0].Name() != "rec1" {
		t.Fatalf("recordings folder: %v", ents)
	}
	if got := f.segFiles("rec1"); len(got) != 0 {
		t.Fatalf("segments written: %v", got)
	}
	ents, _ = os.ReadDir(f.dir)
	for _, e := range ents {
		if e.Name() != "data" && e.Name() != "users.json" {
			t.Fatalf("unexpected %s", e.Name())
		}
	}
}

func TestSegments(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	b := bytes.Repeat([]byte("x"), 1000)
	sum := segment.Sum(b).String()
	for _, tc := range []struct {
		name string
		id   string
		seq  string
		body []byte
		sum  string
		want int
	}{
		{"ok", "rec1", "0", b, sum, 200},
		{"retry", "rec1", "0", b, sum, 200},
		{"conflict", "rec1", "0", append([]byte("y"), b...), segment.Sum(append([]byte("y"), b...)).String(), 409},
		{"wrong checksum", "rec1", "1", b, segment.Sum([]byte("other")).String(), 422},
		{"no checksum", "rec1", "1", b, "", 400},
		{"bad checksum header", "rec1", "1", b, "xyz", 400},
		{"upper-case hex", "rec1", "1", b, strings.ToUpper(sum), 200},
		{"seq not a number", "rec1", "one", b, sum, 400},
		{"seq negative", "rec1", "-1", b, sum, 400},
		{"seq leading zero", "rec1", "01", b, sum, 400},
		{"seq plus", "rec1", "+2", b, sum, 400},
		{"seq overflow", "rec1", "18446744073709551616", b, sum, 400},
		{"seq above name width", "rec1", "10000000000", b, sum, 400},
		{"unknown recording", "rec2", "0", b, sum, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.req("PUT", path(wire.PathSegment, "id", tc.id, "seq", tc.seq), f.ticket, tc.body, map[string]string{wire.HeaderChecksum: tc.sum})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
		})
	}
	if got, want := f.segFiles("rec1"), []string{segment.Name(0), segment.Name(1)}; !slices.Equal(got, want) {
		t.Fatalf("segments = %v, want %v", got, want)
	}
}

func TestOversizedBody(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	big := make([]byte, segment.MaxSize+1)
	sum := segment.Sum(big).String()
	if code, e := f.put("rec1", 0, big, sum); code != http.StatusRequestEntityTooLarge || e.Error == "" {
		t.Fatalf("with length: %d %+v", code, e)
	}
	// Without a Content-Length (chunked) the limit still holds.
	r, _ := http.NewRequest("PUT", f.srv.URL+path(wire.PathSegment, "id", "rec1", "seq", "0"), io.MultiReader(bytes.NewReader(big)))
	r.ContentLength = -1
	r.Header.Set(wire.HeaderAuthorization, "Bearer "+f.ticket)
	r.Header.Set(wire.HeaderChecksum, sum)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: %d", resp.StatusCode)
	}
	if got := f.segFiles("rec1"); len(got) != 0 {
		t.Fatalf("written: %v", got)
	}
	// JSON bodies have their own, smaller limit.
	huge := `{"username":"` + strings.Repeat("a", MaxJSONBody) + `","password":"x"}`
	if code := f.do("POST", wire.PathLogin, "", huge, nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("big JSON: %d", code)
	}
	// A segment of exactly MaxSize is fine.
	ok := big[:segment.MaxSize]
	if code, e := f.put("rec1", 0, ok, segment.Sum(ok).String()); code != 200 {
		t.Fatalf("max size: %d %+v", code, e)
	}
}

func TestJSONBodies(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown field", "POST", wire.PathRecordings, `{"id":"rec2","mode":"buffered","colour":1}`, 400},
		{"bad mode", "POST", wire.PathRecordings, `{"id":"rec2","mode":"triple"}`, 400},
		{"trailing data", "POST", wire.PathRecordings, `{"id":"rec2","mode":"buffered"} {}`, 400},
		{"not json", "POST", wire.PathRecordings, `id=rec2`, 400},
		{"wrong room", "POST", wire.PathRecordings, `{"id":"rec2","room_id":"room9","mode":"buffered"}`, 409},
		{"resume", "POST", wire.PathRecordings, `{"id":"rec1","box_id":"box1","mode":"buffered"}`, 200},
		{"gap reversed", "POST", path(wire.PathGaps, "id", "rec1"), `{"from":5,"to":2}`, 400},
		{"gap", "POST", path(wire.PathGaps, "id", "rec1"), `{"from":1,"to":2,"reason":"offline"}`, 200},
		{"stop zero", "POST", path(wire.PathStop, "id", "rec1"), `{"count":0}`, 400},
		{"stop negative", "POST", path(wire.PathStop, "id", "rec1"), `{"count":-1}`, 400},
		{"login empty", "POST", wire.PathLogin, `{}`, 400},
		{"login wrong", "POST", wire.PathLogin, `{"username":"alice","password":"nope"}`, 401},
		{"audit not final", "GET", path(wire.PathAudit, "id", "rec1"), ``, 409},
		{"audit unknown", "GET", path(wire.PathAudit, "id", "nope"), ``, 404},
		{"media not final", "GET", path(wire.PathMedia, "id", "rec1"), ``, 409},
		{"get unknown", "GET", path(wire.PathRecording, "id", "nope"), ``, 404},
		{"cancel unknown", "DELETE", path(wire.PathRecording, "id", "nope"), ``, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e wire.Error
			code := f.do(tc.method, tc.path, f.ticket, tc.body, &e)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%s)", code, tc.want, e.Error)
			}
			if code >= 400 && e.Error == "" {
				t.Fatal("error body without message")
			}
		})
	}
}

func TestRecordingLifecycle(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	var want []byte
	for seq := uint64(0); seq < 4; seq++ {
		b := bytes.Repeat([]byte{byte('a' + seq)}, 5000)
		want = append(want, b...)
		if seq == 2 {
			continue
		}
		if code, e := f.put("rec1", seq, b, segment.Sum(b).String()); code != 200 {
			t.Fatalf("put %d: %d %s", seq, code, e.Error)
		}
	}
	// Stop with a hole: 409, and the body is a RecordingState with Missing.
	var st wire.RecordingState
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, wire.StopRequest{Count: 4, StoppedAt: t0}, &st); code != 409 || !slices.Equal(st.Missing, []uint64{2}) || st.NextSeq != 2 {
		t.Fatalf("stop incomplete: %d %+v", code, st)
	}
	b := want[10000:15000]
	if code, _ := f.put("rec1", 2, b, segment.Sum(b).String()); code != 200 {
		t.Fatal("put 2")
	}
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, wire.StopRequest{Count: 4, StoppedAt: t0}, &st); code != 200 || st.State != wire.StateFinalized {
		t.Fatalf("stop: %d %+v", code, st)
	}
	resp := f.req("GET", path(wire.PathMedia, "id", "rec1"), f.ticket, nil, nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("media: %d, %d bytes", resp.StatusCode, len(got))
	}
	var m wire.Metadata
	if code := f.do("GET", path(wire.PathMetadata, "id", "rec1"), f.ticket, nil, &m); code != 200 || len(m.Segments) != 4 || m.MediaBytes != int64(len(want)) {
		t.Fatalf("metadata: %d %+v", code, m)
	}
	var list []wire.RecordingState
	if code := f.do("GET", wire.PathRecordings, f.ticket, nil, &list); code != 200 || len(list) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := f.do("DELETE", path(wire.PathRecording, "id", "rec1"), f.ticket, nil, nil); code != 409 {
		t.Fatalf("cancel finalized: %d", code)
	}
	// Cancel of a recording in progress.
	f.create("rec2")
	if code := f.do("DELETE", path(wire.PathRecording, "id", "rec2"), f.ticket, nil, nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data", "recordings", "rec2")); !os.IsNotExist(err) {
		t.Fatalf("rec2 still on disk: %v", err)
	}
	// Logout revokes the ticket.
	if code := f.do("POST", wire.PathLogout, f.ticket, nil, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code := f.do("GET", wire.PathRecordings, f.ticket, nil, nil); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
}

// TestWrongPassword: a wrong password, or a user who does not exist, gets
// the same clear 401 and no ticket; nothing changes but the audit trail,
// which records each failed login as given.
func TestWrongPassword(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	before := f.snapshot()
	entries := len(f.trail.Entries(audit.Filter{}))
	var msgs []string
	for _, tc := range []struct{ user, pass string }{{"alice", "wrong"}, {"root", operatorPassword}, {"mallory", "x"}, {"alice", ""}} {
		var rep struct {
			Ticket string `json:"ticket"`
			Error  string `json:"error"`
		}
		code := f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: tc.user, Password: tc.pass}, &rep)
		if tc.pass == "" {
			if code != http.StatusBadRequest || !strings.Contains(rep.Error, "password") {
				t.Fatalf("empty password: %d %q", code, rep.Error)
			}
			continue
		}
		if code != http.StatusUnauthorized || rep.Ticket != "" || !strings.Contains(rep.Error, "wrong username or password") {
			t.Fatalf("%s/%s: %d %+v; want 401 saying wrong username or password", tc.user, tc.pass, code, rep)
		}
		msgs = append(msgs, rep.Error)
	}
	if msgs[0] != msgs[2] {
		t.Errorf("a wrong password (%q) and an unknown user (%q) answer differently", msgs[0], msgs[2])
	}
	// Only the audit trail grew: one login_failed per refused password.
	after := f.snapshot()
	delete(before, "/data/audit.log")
	delete(after, "/data/audit.log")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files before %d, after %d", len(before), len(after))
	}
	failed := f.trail.Entries(audit.Filter{Action: audit.LoginFailed})
	if got := len(f.trail.Entries(audit.Filter{})) - entries; got != 3 || len(failed) != 3 || failed[2].Actor != "mallory" {
		t.Fatalf("%d new entries, failed logins %+v; want the 3 failed logins", got, failed)
	}
}

func TestLoginRateLimited(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		if code := f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: "alice", Password: "wrong"}, nil); code != 401 {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	resp := f.req("POST", wire.PathLogin, "", wire.LoginRequest{Username: "alice", Password: "correct horse"}, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
