package settings

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/firmware/policy"
	"twincap/server/wire"
)

// base is a valid, mostly default, settings value.
func base() Settings {
	s := Default()
	s.RoomID = "Room 1"
	return s
}

// full sets every field to a valid value other than its zero value.
func full() Settings {
	return Settings{
		RoomID:    "Room 1",
		DeviceID:  "dev-42",
		DeviceURL: "https://agency.example.org/devices",
		FIPS:      true,
		Paired:    Paired{Role: Redundant, Preferred: "10.0.0.1:0", Redundant: "10.0.0.2:9443"},
		Source: Source{Camera: "/dev/video0", Microphone: "hw:1", Width: 1280, Height: 720, FPS: 30,
			VideoBitrate: 4_000_000, AudioBitrate: 64_000},
		Maintenance: []Window{{Days: []Day{"sat", "sun"}, Start: 2*60 + 30, Length: Duration(90 * time.Minute)}},
		Fallback:    policy.All,
		Mode:        wire.Unbuffered,
		Evidence: Evidence{
			Endpoint: "https://s3.example.org", Region: "eu-west-1", Bucket: "room-1.evidence",
			CredentialsRef: "evidence.key", ObjectLockRetention: Duration(7 * 365 * 24 * time.Hour),
			Order: OrderNewestFirst, RetryAttempts: 9, TakeoverAfter: Duration(12 * time.Hour),
			StalledAfter: Duration(3 * time.Hour), SecondUploadIfMore: true, SecondUploadMargin: 1 << 20,
		},
	}
}

// TestFullIsFull keeps full() honest: a field added to Settings must be
// given a value there, so the round trip below covers it.
func TestFullIsFull(t *testing.T) {
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if v.IsZero() {
			t.Errorf("full() leaves %s zero", path)
		}
		if v.Kind() == reflect.Struct && isObject(v.Type()) {
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	}
	walk(reflect.ValueOf(full()), "Settings")
	if err := full().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []Settings{base(), full()} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

// applyCase is one patch over base(): either it succeeds and edit turns
// base() into the expected result, or it fails naming exactly bad.
type applyCase struct {
	name  string
	patch string
	edit  func(*Settings)
	bad   []string // JSON paths named by the error ("" is the document)
}

var applyCases = []applyCase{
	{"empty patch", `{}`, func(*Settings) {}, nil},
	{"room", `{"room_id":"Room 2"}`, func(s *Settings) { s.RoomID = "Room 2" }, nil},
	{"device", `{"device_id":"d1","device_url":"http://dev.example:8080/x"}`, func(s *Settings) {
		s.DeviceID, s.DeviceURL = "d1", "http://dev.example:8080/x"
	}, nil},
	{"fips", `{"fips":true}`, func(s *Settings) { s.FIPS = true }, nil},
	{"fallback upper case", `{"fallback":"ALL"}`, func(s *Settings) { s.Fallback = policy.All }, nil},
	{"fallback preferred", `{"fallback":"preferred"}`, func(s *Settings) { s.Fallback = policy.Preferred }, nil},
	{"unbuffered", `{"mode":"unbuffered"}`, func(s *Settings) { s.Mode = wire.Unbuffered }, nil},
	{"paired port 0", `{"paired":{"role":"redundant","preferred":"a.example:0","redundant":"[::1]"}}`, func(s *Settings) {
		s.Paired = Paired{Role: Redundant, Preferred: "a.example:0", Redundant: "[::1]"}
	}, nil},
	{"paired merges", `{"paired":{"preferred":"10.0.0.1"}}`, func(s *Settings) { s.Paired.Preferred = "10.0.0.1" }, nil},
	{"source", `{"source":{"camera":"/dev/video2","width":1920,"height":1080,"fps":25}}`, func(s *Settings) {
		s.Source = Source{Camera: "/dev/video2", Width: 1920, Height: 1080, FPS: 25}
	}, nil},
	{"maintenance", `{"maintenance":[{"days":["mon","fri"],"start":"23:30","length":"2h"},{"start":"04:00","length":"15m"}]}`, func(s *Settings) {
		s.Maintenance = []Window{{Days: []Day{"mon", "fri"}, Start: 23*60 + 30, Length: Duration(2 * time.Hour)},
			{Start: 4 * 60, Length: Duration(15 * time.Minute)}}
	}, nil},
	{"maintenance cleared", `{"maintenance":[]}`, func(s *Settings) { s.Maintenance = []Window{} }, nil},
	{"evidence merges", `{"evidence":{"retry_attempts":3,"upload_order":"random"}}`, func(s *Settings) {
		s.Evidence.RetryAttempts, s.Evidence.Order = 3, OrderRandom
	}, nil},
	{"evidence endpoint", `{"evidence":{"endpoint":"http://127.0.0.1:9000","bucket":"evidence","credentials_ref":"minio.key","object_lock_retention":"720h"}}`, func(s *Settings) {
		s.Evidence.Endpoint, s.Evidence.Bucket, s.Evidence.CredentialsRef = "http://127.0.0.1:9000", "evidence", "minio.key"
		s.Evidence.ObjectLockRetention = Duration(720 * time.Hour)
	}, nil},
	{"upload preferences", `{"evidence":{"takeover_after":"0s","stalled_after":"90m","second_upload_if_more":true,"second_upload_margin_bytes":1048576}}`, func(s *Settings) {
		s.Evidence.TakeoverAfter, s.Evidence.StalledAfter = 0, Duration(90*time.Minute)
		s.Evidence.SecondUploadIfMore, s.Evidence.SecondUploadMargin = true, 1<<20
	}, nil},
	{"every order", `{"evidence":{"upload_order":"oldest_first"}}`, func(s *Settings) { s.Evidence.Order = OrderOldestFirst }, nil},

	{"unknown top field", `{"colour":"red"}`, nil, []string{"colour"}},
	{"unknown nested field", `{"evidence":{"retries":3}}`, nil, []string{"evidence.retries"}},
	{"field names are case-sensitive", `{"Room_ID":"x"}`, nil, []string{"Room_ID"}},
	{"several unknown", `{"a":1,"paired":{"b":2},"c":3}`, nil, []string{"a", "paired.b", "c"}},
	{"bad fallback", `{"fallback":"some"}`, nil, []string{"fallback"}},
	{"fallback as number", `{"fallback":1}`, nil, []string{"fallback"}},
	{"bad mode", `{"mode":"Buffered"}`, nil, []string{"mode"}},
	{"bad order", `{"evidence":{"upload_order":"fastest"}}`, nil, []string{"evidence.upload_order"}},
	{"bad role", `{"paired":{"role":"primary"}}`, nil, []string{"paired.role"}},
	{"retry zero", `{"evidence":{"retry_attempts":0}}`, nil, []string{"evidence.retry_attempts"}},
	{"retry too many", `{"evidence":{"retry_attempts":101}}`, nil, []string{"evidence.retry_attempts"}},
	{"retry as string", `{"evidence":{"retry_attempts":"5"}}`, nil, []string{"evidence.retry_attempts"}},
	{"retry fraction", `{"evidence":{"retry_attempts":1.5}}`, nil, []string{"evidence.retry_attempts"}},
	{"duration words", `{"evidence":{"takeover_after":"soon"}}`, nil, []string{"evidence.takeover_after"}},
	{"duration number", `{"evidence":{"takeover_after":24}}`, nil, []string{"evidence.takeover_after"}},
	{"duration negative", `{"evidence":{"stalled_after":"-1h"}}`, nil, []string{"evidence.stalled_after"}},
	{"duration too short", `{"evidence":{"stalled_after":"30s"}}`, nil, []string{"evidence.stalled_after"}},
	{"duration too long", `{"evidence":{"takeover_after":"721h"}}`, nil, []string{"evidence.takeover_after"}},
	{"retention too short", `{"evidence":{"object_lock_retention":"1s"}}`, nil, []string{"evidence.object_lock_retention"}},
	{"negative margin", `{"evidence":{"second_upload_margin_bytes":-1}}`, nil, []string{"evidence.second_upload_margin_bytes"}},
	{"null", `{"room_id":null}`, nil, []string{"room_id"}},
	{"null object", `{"evidence":null}`, nil, []string{"evidence"}},
	{"fips as string", `{"fips":"yes"}`, nil, []string{"fips"}},
	{"object as string", `{"paired":"a:1"}`, nil, []string{"paired"}},
	{"list as object", `{"maintenance":{"start":"01:00"}}`, nil, []string{"maintenance"}},
	{"duplicate key", `{"room_id":"a","room_id":"b"}`, nil, []string{"room_id"}},
	{"empty room", `{"room_id":""}`, nil, []string{"room_id"}},
	{"room with control character", `{"room_id":"a\u0007"}`, nil, []string{"room_id"}},
	{"device id without url", `{"device_id":"d1"}`, nil, []string{"device_url"}},
	{"device url not absolute", `{"device_id":"d1","device_url":"dev.example"}`, nil, []string{"device_url"}},
	{"device url with password", `{"device_id":"d1","device_url":"https://u:p@dev.example"}`, nil, []string{"device_url"}},
	{"not an object", `[1,2]`, nil, []string{""}},
	{"not json", `{"room_id":`, nil, []string{""}},
	{"trailing data", `{} {}`, nil, []string{""}},
	{"empty document", ``, nil, []string{""}},
	{"bad start", `{"maintenance":[{"start":"24:00","length":"1h"}]}`, nil, []string{"maintenance[0].start"}},
	{"start without zero", `{"maintenance":[{"start":"2:00","length":"1h"}]}`, nil, []string{"maintenance[0].start"}},
	{"no length", `{"maintenance":[{"start":"02:00"}]}`, nil, []string{"maintenance[0].length"}},
	{"long window", `{"maintenance":[{"start":"02:00","length":"25h"}]}`, nil, []string{"maintenance[0].length"}},
	{"bad day", `{"maintenance":[{"days":["mon","Tue"],"start":"02:00","length":"1h"}]}`, nil, []string{"maintenance[0].days"}},
	{"twice a day", `{"maintenance":[{"days":["mon","mon"],"start":"02:00","length":"1h"}]}`, nil, []string{"maintenance[0].days"}},
	{"null window", `{"maintenance":[null]}`, nil, []string{"maintenance[0]"}},
	{"unknown in window", `{"maintenance":[{"start":"02:00","length":"1h","every":"week"}]}`, nil, []string{"maintenance[0].every"}},
	{"too many windows", `{"maintenance":[` + strings.Repeat(`{"start":"01:00","length":"1m"},`, MaxWindows) + `{"start":"01:00","length":"1m"}]}`, nil, []string{"maintenance"}},
	{"redundant without preferred", `{"paired":{"redundant":"b"}}`, nil, []string{"paired.preferred"}},
	{"same server twice", `{"paired":{"preferred":"a","redundant":"a:8443"}}`, nil, []string{"paired.redundant"}},
	{"bad port", `{"paired":{"preferred":"a:65536"}}`, nil, []string{"paired.preferred"}},
	{"address with path", `{"paired":{"preferred":"a/b"}}`, nil, []string{"paired.preferred"}},
	{"tiny video", `{"source":{"width":5,"fps":500}}`, nil, []string{"source.width", "source.fps"}},
	{"endpoint scheme", `{"evidence":{"endpoint":"ftp://s3.example","bucket":"b-1","credentials_ref":"k"}}`, nil, []string{"evidence.endpoint"}},
	{"endpoint needs bucket and key", `{"evidence":{"endpoint":"https://s3.example"}}`, nil, []string{"evidence.bucket", "evidence.credentials_ref"}},
	{"bucket name", `{"evidence":{"bucket":"Evidence"}}`, nil, []string{"evidence.bucket"}},
	{"bucket like an address", `{"evidence":{"bucket":"10.0.0.1"}}`, nil, []string{"evidence.bucket"}},
	{"credentials are a name", `{"evidence":{"credentials_ref":"../secrets/key"}}`, nil, []string{"evidence.credentials_ref"}},
	{"region", `{"evidence":{"region":"EU West"}}`, nil, []string{"evidence.region"}},
	{"fips needs https", `{"fips":true,"evidence":{"endpoint":"http://s3.example","bucket":"b-1","credentials_ref":"k"}}`, nil, []string{"evidence.endpoint"}},
	{"every problem named", `{"room_id":"","mode":"x","evidence":{"retry_attempts":0,"colour":1},"fallback":"none"}`, nil,
		[]string{"room_id", "mode", "evidence.retry_attempts", "evidence.colour", "fallback"}},
}

func TestApply(t *testing.T) {
	for _, tc := range applyCases {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			got, err := Apply(old, []byte(tc.patch))
			if tc.bad == nil {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				want := base()
				tc.edit(&want)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("got  %+v\nwant %+v", got, want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err %T is not an *InvalidError", err)
			}
			var named []string
			for _, f := range ie.Fields {
				if !slices.Contains(named, f.Field) {
					named = append(named, f.Field)
				}
				if !strings.Contains(err.Error(), f.Error()) {
					t.Errorf("message %q lacks %q", err, f.Error())
				}
			}
			slices.Sort(named)
			want := slices.Sorted(slices.Values(tc.bad))
			if !slices.Equal(named, want) {
				t.Fatalf("error names %q, want %q (%v)", named, want, err)
			}
			if !reflect.DeepEqual(got, base()) {
				t.Fatalf("a refused change altered the settings: %+v", got)
			}
		})
	}
}

// A patch never writes through into the settings it was applied to.
func TestApplyDoesNotAlias(t *testing.T) {
	old := full()
	got, err := Apply(old, []byte(`{"maintenance":[{"days":["mon"],"start":"01:00","length":"1h"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got.Maintenance[0].Days[0] = "tue"
	if !reflect.DeepEqual(old, full()) {
		t.Fatal("Apply's result shares memory with its input")
	}
	c := old.Clone()
	c.Maintenance[0].Days[0] = "wed"
	if !reflect.DeepEqual(old, full()) {
		t.Fatal("Clone shares memory")
	}
}

func TestAddrHostPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.example", "a.example:8443"},
		{"a.example:0", "a.example:8443"},
		{"a.example:9000", "a.example:9000"},
		{"10.0.0.1", "10.0.0.1:8443"},
		{"::1", "[::1]:8443"},
		{"[::1]", "[::1]:8443"},
		{"[::1]:0", "[::1]:8443"},
		{"[fe80::1]:444", "[fe80::1]:444"},
		{"", ""},
		{":8443", ""},
		{"a:b:c", ""},
		{"a:-1", ""},
		{"a:65536", ""},
		{"a:08443", ""},
		{"a b", ""},
		{"a/b:1", ""},
		{"[a]", ""},
	} {
		got, err := Addr(tc.in).HostPort()
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("Addr(%q).HostPort() = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Clock
		ok   bool
	}{
		{"00:00", 0, true}, {"23:59", 23*60 + 59, true}, {"07:05", 7*60 + 5, true},
		{"24:00", 0, false}, {"12:60", 0, false}, {"7:05", 0, false}, {"07-05", 0, false},
		{"+1:00", 0, false}, {"07:05 ", 0, false}, {"", 0, false},
	} {
		var c Clock
		err := c.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || c != tc.want {
			t.Errorf("Clock(%q) = %d, %v", tc.in, c, err)
			continue
		}
		if tc.ok {
			if b, _ := c.MarshalText(); string(b) != tc.in {
				t.Errorf("Clock(%q) writes %q", tc.in, b)
			}
		}
	}
}

func TestWindowContains(t *testing.T) {
	loc := time.FixedZone("room", 2*3600)
	// 2026-11-23 is a Monday.
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, loc) }
	nightly := Window{Start: 23 * 60, Length: Duration(2 * time.Hour)}
	mondays := Window{Days: []Day{"mon"}, Start: 23 * 60, Length: Duration(2 * time.Hour)}
	for _, tc := range []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"before", nightly, at(23, 22, 59), false},
		{"at start", nightly, at(23, 23, 0), true},
		{"after midnight", nightly, at(24, 0, 59), true},
		{"at end", nightly, at(24, 1, 0), false},
		{"monday night", mondays, at(23, 23, 30), true},
		{"monday's window into tuesday", mondays, at(24, 0, 30), true},
		{"tuesday night", mondays, at(24, 23, 30), false},
		{"sunday's window", mondays, at(23, 0, 30), false},
		{"whole day", Window{Start: 0, Length: Duration(24 * time.Hour)}, at(25, 13, 0), true},
	} {
		if got := tc.w.Contains(tc.t); got != tc.want {
			t.Errorf("%s: Contains(%v) = %v", tc.name, tc.t, got)
		}
	}
	s := base()
	s.Maintenance = []Window{mondays}
	if !s.InMaintenance(at(23, 23, 30)) || s.InMaintenance(at(23, 12, 0)) {
		t.Error("InMaintenance")
	}
}

func TestCheckFIPS(t *testing.T) {
	s := base()
	for _, tc := range []struct {
		fips, enabled, ok bool
	}{{false, false, true}, {false, true, true}, {true, true, true}, {true, false, false}} {
		s.FIPS = tc.fips
		err := s.CheckFIPS(tc.enabled)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrFIPS)) {
			t.Errorf("fips=%v enabled=%v: %v", tc.fips, tc.enabled, err)
		}
	}
}

func TestValidateZero(t *testing.T) {
	var ie *InvalidError
	if err := (Settings{}).Validate(); !errors.As(err, &ie) || len(ie.Fields) < 5 {
		t.Fatalf("Validate(zero) = %v", err)
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
}
