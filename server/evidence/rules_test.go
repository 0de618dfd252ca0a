package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"twincap/server/settings"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func validConfig() Config {
	return Config{Endpoint: "127.0.0.1:9000", Bucket: "evidence", AccessKey: "k", SecretKey: "s", ServerID: "srv-a", RoomID: "room 1/A"}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		bad  string // "" = valid; else a substring of the error
	}{
		{"valid", func(*Config) {}, ""},
		{"prefix", func(c *Config) { c.Prefix = "twincap/evidence/" }, ""},
		{"retention and part size", func(c *Config) { c.RetentionDays, c.PartSize = 2555, MinPartSize }, ""},
		{"scheme in endpoint", func(c *Config) { c.Endpoint = "https://s3.example:443" }, "endpoint"},
		{"no port", func(c *Config) { c.Endpoint = "s3.example" }, "endpoint"},
		{"port 0", func(c *Config) { c.Endpoint = "s3.example:0" }, "port"},
		{"bucket upper case", func(c *Config) { c.Bucket = "Evidence" }, "bucket"},
		{"bucket short", func(c *Config) { c.Bucket = "ev" }, "bucket"},
		{"no secret", func(c *Config) { c.SecretKey = "" }, "secret key"},
		{"prefix without slash", func(c *Config) { c.Prefix = "twincap" }, "prefix"},
		{"prefix absolute", func(c *Config) { c.Prefix = "/twincap/" }, "prefix"},
		{"prefix dot dot", func(c *Config) { c.Prefix = "a/../" }, "prefix"},
		{"server ID with dot", func(c *Config) { c.ServerID = "media.mp4" }, "server ID"},
		{"server ID with slash", func(c *Config) { c.ServerID = "a/b" }, "server ID"},
		{"no room", func(c *Config) { c.RoomID = "" }, "room ID"},
		{"negative retention", func(c *Config) { c.RetentionDays = -1 }, "retention"},
		{"part too small", func(c *Config) { c.PartSize = 1 << 20 }, "part size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.bad != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("Validate = %v; want ErrInvalid mentioning %q", err, tc.bad)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		prefix, room, server string
		primary, own         string
	}{
		{"", "room1", "srv-b", "room1/rec-1/", "room1/rec-1/srv-b/"},
		{"twincap/", "room1", "srv-b", "twincap/room1/rec-1/", "twincap/room1/rec-1/srv-b/"},
		{"", "Room 1/A", "b", "Room%201%2FA/rec-1/", "Room%201%2FA/rec-1/b/"},
		{"", "..", "b", "%2E%2E/rec-1/", "%2E%2E/rec-1/b/"},
		{"", ".", "b", "%2E/rec-1/", "%2E/rec-1/b/"},
	} {
		c := Config{Prefix: tc.prefix, RoomID: tc.room}
		if got := c.PrimaryFolder("rec-1"); got != tc.primary {
			t.Errorf("PrimaryFolder(%q, %q) = %q; want %q", tc.prefix, tc.room, got, tc.primary)
		}
		if got := c.ServerFolder("rec-1", tc.server); got != tc.own {
			t.Errorf("ServerFolder(%q, %q) = %q; want %q", tc.prefix, tc.room, got, tc.own)
		}
	}
}

func TestDigest(t *testing.T) {
	const ps = 10
	data := make([]byte, 35)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		size  int64
		parts int
	}{{0, 1}, {1, 1}, {ps, 1}, {ps + 1, 2}, {3 * ps, 3}, {35, 4}} {
		b := data[:tc.size]
		d, err := digestOf(bytes.NewReader(b), tc.size, ps)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.parts) != tc.parts || d.sum != sha256.Sum256(b) {
			t.Fatalf("size %d: %d parts (want %d), sum ok %v", tc.size, len(d.parts), tc.parts, d.sum == sha256.Sum256(b))
		}
		var joined []byte
		for i := range d.parts {
			off, l := d.part(int64(i))
			if d.parts[i] != sha256.Sum256(b[off:off+l]) {
				t.Fatalf("size %d: part %d digest wrong", tc.size, i)
			}
			joined = append(joined, b[off:off+l]...)
		}
		if !bytes.Equal(joined, b) {
			t.Fatalf("size %d: parts do not cover the object", tc.size)
		}
		want := base64.StdEncoding.EncodeToString(d.sum[:])
		if tc.parts > 1 {
			h := sha256.New()
			for _, p := range d.parts {
				h.Write(p[:])
			}
			want = base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + string(rune('0'+tc.parts))
		}
		if got := d.storeChecksum(); got != want {
			t.Fatalf("size %d: storeChecksum %s; want %s", tc.size, got, want)
		}
	}
	if _, err := digestOf(bytes.NewReader(nil), MaxParts*ps+1, ps); !errors.Is(err, ErrInvalid) {
		t.Fatalf("too many parts: %v; want ErrInvalid", err)
	}
}

func marker(server, supersedes string, media int64, completed time.Time) Marker {
	return Marker{ServerID: server, Supersedes: supersedes, CompletedAt: completed, StartedAt: completed.Add(-time.Minute),
		Objects: []Object{{Name: MediaName, Size: media}, {Name: MetadataName}, {Name: AuditName}}}
}

func TestChooseEvidence(t *testing.T) {
	a := marker("a", "", 100, t0)
	bSame := marker("b", "a", 100, t0.Add(-time.Hour))
	bMore := marker("b", "a", 200, t0.Add(time.Hour))
	aLater := marker("a", "", 100, t0.Add(time.Hour))
	for _, tc := range []struct {
		name    string
		markers []Marker
		want    string // server ID, "" for none
		at      time.Time
	}{
		{"none", nil, "", time.Time{}},
		{"one", []Marker{a}, "a", t0},
		{"tie: primary wins even if later", []Marker{bSame, a}, "a", t0},
		{"more bytes wins", []Marker{a, bMore}, "b", t0.Add(time.Hour)},
		{"tie, both primary-less: earliest", []Marker{marker("b", "a", 1, t0.Add(time.Hour)), marker("c", "a", 1, t0)}, "c", t0},
		{"same everything: server ID", []Marker{marker("z", "", 1, t0), marker("y", "", 1, t0)}, "y", t0},
		{"earliest primary", []Marker{aLater, a}, "a", t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := ChooseEvidence(tc.markers)
			if ok != (tc.want != "") || m.ServerID != tc.want || !m.CompletedAt.Equal(tc.at) {
				t.Fatalf("ChooseEvidence = %s at %v, %v; want %q at %v", m.ServerID, m.CompletedAt, ok, tc.want, tc.at)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	all := []State{Waiting, Uploading, Backoff, Done, Covered, GivenUp, Conflict}
	want := map[State]map[Event]State{}
	for _, s := range []State{Waiting, Uploading, Backoff} {
		want[s] = map[Event]State{EvUpload: Uploading, EvWait: Waiting, EvCovered: Covered, EvDone: Done,
			EvFailed: Backoff, EvExhausted: GivenUp, EvConflict: Conflict}
	}
	want[GivenUp] = map[Event]State{EvRetry: Waiting}
	for _, s := range all {
		for e := EvUpload; e <= EvRetry; e++ {
			got, ok := Transition(s, e)
			w, allowed := want[s][e]
			if ok != allowed || (allowed && got != w) || (!allowed && got != s) {
				t.Errorf("Transition(%s, %s) = %s, %v; want %s, %v", s, e, got, ok, w, allowed)
			}
		}
	}
	for _, s := range all {
		var back State
		b, err := s.MarshalText()
		if err != nil || back.UnmarshalText(b) != nil || back != s {
			t.Errorf("state %s does not round-trip: %q %v", s, b, err)
		}
	}
	var s State
	if err := s.UnmarshalText([]byte("finished")); err == nil {
		t.Error("unknown state name accepted")
	}
}

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute}, {7, time.Hour}, {1000, time.Hour}} {
		if got := BackoffDelay(time.Minute, time.Hour, tc.n); got != tc.want {
			t.Errorf("BackoffDelay(1m, 1h, %d) = %v; want %v", tc.n, got, tc.want)
		}
	}
}

func TestPeerView(t *testing.T) {
	claimB := &Claim{ServerID: "b", StartedAt: t0}
	claimA := &Claim{ServerID: "a", StartedAt: t0}
	for _, tc := range []struct {
		name  string
		api   PeerUpload
		store Found
		want  PeerUpload
	}{
		{"nothing known", PeerUpload{}, Found{}, PeerUpload{}},
		{"api only: finished is not believed without a marker", PeerUpload{Bytes: 5, Started: t0, Finished: t0.Add(time.Hour)}, Found{},
			PeerUpload{Bytes: 5, Started: t0}},
		{"claim by the peer shows it started", PeerUpload{}, Found{Claim: claimB}, PeerUpload{Started: t0}},
		{"own claim is not the peer's", PeerUpload{}, Found{Claim: claimA}, PeerUpload{}},
		{"earlier of api and claim", PeerUpload{Started: t0.Add(time.Hour)}, Found{Claim: claimB}, PeerUpload{Started: t0}},
		{"peer's marker: finished, with its uploaded bytes", PeerUpload{Bytes: 999},
			Found{Claim: claimB, Markers: []Marker{marker("b", "", 70, t0.Add(2*time.Hour))}},
			PeerUpload{Bytes: 70, Started: t0, Finished: t0.Add(2 * time.Hour)}},
		{"own marker is not the peer's", PeerUpload{}, Found{Markers: []Marker{marker("a", "", 70, t0)}}, PeerUpload{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PeerView("a", tc.api, tc.store)
			if got.Bytes != tc.want.Bytes || !got.Started.Equal(tc.want.Started) || !got.Finished.Equal(tc.want.Finished) {
				t.Fatalf("PeerView = %+v; want %+v", got, tc.want)
			}
		})
	}
}

// TestDecide covers the seed's cover-for-peer rules as seen from server
// "a", with what the peer API and the store say.
func TestDecide(t *testing.T) {
	prefs := settings.Evidence{
		Endpoint:           "s3.example:443",
		RetryAttempts:      3,
		TakeoverAfter:      settings.Duration(12 * time.Hour),
		StalledAfter:       settings.Duration(3 * time.Hour),
		SecondUploadIfMore: true,
		SecondUploadMargin: 1000,
	}
	red := Situation{Self: "a", Role: settings.Redundant, FinalizedAt: t0, Bytes: 10_000}
	pref := red
	pref.Role = settings.Preferred
	with := func(s Situation, f func(*Situation)) Situation { f(&s); return s }
	claimB := &Claim{ServerID: "b", StartedAt: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name    string
		s       Situation
		now     time.Time
		act     Action
		reason  string
		recheck time.Time
	}{
		{"own marker: done", with(red, func(s *Situation) { s.Store.Markers = []Marker{marker("a", "", 10_000, t0)} }), t0,
			ActDone, "complete in the store", time.Time{}},
		{"own claim: resume", with(red, func(s *Situation) { s.Store.Claim = &Claim{ServerID: "a", StartedAt: t0} }), t0,
			ActUpload, "resuming", time.Time{}},
		{"own state says uploading: resume", with(red, func(s *Situation) { s.Resume = true; s.Store.Claim = claimB }), t0,
			ActUpload, "resuming", time.Time{}},
		{"preferred uploads at once", pref, t0, ActUpload, "preferred", time.Time{}},
		{"alone uploads at once", with(red, func(s *Situation) { s.Alone = true }), t0, ActUpload, "only server", time.Time{}},
		// Rule 1: upload from this server if the preferred one has not
		// completed within N hours.
		{"rule 1: redundant waits for the preferred", red, t0.Add(time.Hour), ActWait, "waiting", t0.Add(12 * time.Hour)},
		{"rule 1: redundant takes over after N hours", red, t0.Add(12 * time.Hour), ActUpload, "not completed the upload within 12h", time.Time{}},
		{"rule 1: preferred's partial upload (claim, no marker) does not count as done", with(red, func(s *Situation) { s.Store.Claim = &Claim{ServerID: "b", StartedAt: t0.Add(11 * time.Hour)} }),
			t0.Add(12 * time.Hour), ActUpload, "not completed", time.Time{}},
		// Rule 2: a second upload when the other's upload started but did
		// not finish within T.
		{"rule 2: peer started (api), not stalled yet", with(red, func(s *Situation) { s.Peer.Started = t0.Add(time.Hour) }), t0.Add(2 * time.Hour),
			ActWait, "waiting", t0.Add(4 * time.Hour)},
		{"rule 2: peer stalled (api)", with(red, func(s *Situation) { s.Peer.Started = t0.Add(time.Hour) }), t0.Add(4 * time.Hour),
			ActUpload, "has not finished within 3h", time.Time{}},
		{"rule 2: peer unreachable, its claim shows the stall", with(pref, func(s *Situation) { s.Store.Claim = claimB }), t0.Add(4 * time.Hour),
			ActUpload, "has not finished within 3h", time.Time{}},
		{"rule 2: preferred waits for the redundant's running upload", with(pref, func(s *Situation) { s.Store.Claim = claimB }), t0.Add(2 * time.Hour),
			ActWait, "waiting", t0.Add(4 * time.Hour)},
		{"rule 2: peer says finished but no marker: stalled", with(red, func(s *Situation) { s.Peer = PeerUpload{Started: t0, Finished: t0.Add(time.Hour)} }), t0.Add(3 * time.Hour),
			ActUpload, "has not finished", time.Time{}},
		// Rule 3: a second upload by the server that holds more than X
		// bytes more than the other uploaded.
		{"rule 3: peer uploaded the same: covered", with(red, func(s *Situation) { s.Store.Markers = []Marker{marker("b", "", 10_000, t0)} }), t0,
			ActCovered, "the other server uploaded it", time.Time{}},
		{"rule 3: we hold more, within the margin: covered", with(red, func(s *Situation) { s.Store.Markers = []Marker{marker("b", "", 9_000, t0)} }), t0,
			ActCovered, "the other server uploaded it", time.Time{}},
		{"rule 3: we hold more by over the margin: second upload", with(red, func(s *Situation) { s.Store.Markers = []Marker{marker("b", "", 8_999, t0)} }), t0,
			ActUpload, "second upload", time.Time{}},
		{"rule 3: sizes come from the store's marker, not the peer's word", with(red, func(s *Situation) {
			s.Peer.Bytes = 10_000
			s.Store.Markers = []Marker{marker("b", "", 100, t0)}
		}), t0, ActUpload, "second upload", time.Time{}},
		{"rule 3: off", with(red, func(s *Situation) { s.Store.Markers = []Marker{marker("b", "", 1, t0)} }), t0,
			ActCovered, "the other server uploaded it", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prefs
			if strings.HasSuffix(tc.name, ": off") {
				p.SecondUploadIfMore = false
			}
			d := Decide(p, tc.s, tc.now)
			if d.Action != tc.act || !strings.Contains(d.Reason, tc.reason) || !d.RecheckAt.Equal(tc.recheck) {
				t.Fatalf("Decide = %s %q recheck %v; want %s ~%q recheck %v", d.Action, d.Reason, d.RecheckAt, tc.act, tc.reason, tc.recheck)
			}
		})
	}
}
