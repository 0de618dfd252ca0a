package settings

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/firmware/policy"
	"twincap/server/wire"
)

// classes is the seed's rule written out field by field, with one change of
// each field. A field added to Settings fails TestFieldsAreClassified until
// it is placed here.
var classes = []struct {
	path   string
	class  Class
	change func(*Settings)
}{
	{"room_id", Blocking, func(s *Settings) { s.RoomID = "Room 2" }},
	{"device_id", Blocking, func(s *Settings) { s.DeviceID = "dev-43" }},
	{"device_url", Blocking, func(s *Settings) { s.DeviceURL = "https://other.example.org" }},
	{"fips", Blocking, func(s *Settings) { s.FIPS = false }},
	{"paired.role", Ignored, func(s *Settings) { s.Paired.Role = Preferred }},
	{"paired.preferred", Ignored, func(s *Settings) { s.Paired.Preferred = "10.0.0.9" }},
	{"paired.redundant", Ignored, func(s *Settings) { s.Paired.Redundant = "" }},
	{"source.camera", Ignored, func(s *Settings) { s.Source.Camera = "/dev/video1" }},
	{"source.microphone", Ignored, func(s *Settings) { s.Source.Microphone = "" }},
	{"source.width", Ignored, func(s *Settings) { s.Source.Width = 640 }},
	{"source.height", Ignored, func(s *Settings) { s.Source.Height = 480 }},
	{"source.fps", Ignored, func(s *Settings) { s.Source.FPS = 15 }},
	{"source.video_bitrate", Ignored, func(s *Settings) { s.Source.VideoBitrate = 0 }},
	{"source.audio_bitrate", Ignored, func(s *Settings) { s.Source.AudioBitrate = 96_000 }},
	{"maintenance", Ignored, func(s *Settings) { s.Maintenance[0].Start = 3 * 60 }},
	{"fallback", NonBlocking, func(s *Settings) { s.Fallback = policy.Any }},
	{"mode", NonBlocking, func(s *Settings) { s.Mode = wire.Buffered }},
	{"evidence.endpoint", NonBlocking, func(s *Settings) { s.Evidence.Endpoint = "https://s3.other.example" }},
	{"evidence.region", NonBlocking, func(s *Settings) { s.Evidence.Region = "" }},
	{"evidence.bucket", NonBlocking, func(s *Settings) { s.Evidence.Bucket = "other" }},
	{"evidence.credentials_ref", NonBlocking, func(s *Settings) { s.Evidence.CredentialsRef = "other.key" }},
	{"evidence.object_lock_retention", NonBlocking, func(s *Settings) { s.Evidence.ObjectLockRetention = 0 }},
	{"evidence.upload_order", NonBlocking, func(s *Settings) { s.Evidence.Order = OrderDefault }},
	{"evidence.retry_attempts", NonBlocking, func(s *Settings) { s.Evidence.RetryAttempts = 1 }},
	{"evidence.takeover_after", NonBlocking, func(s *Settings) { s.Evidence.TakeoverAfter = Duration(time.Hour) }},
	{"evidence.stalled_after", NonBlocking, func(s *Settings) { s.Evidence.StalledAfter = 0 }},
	{"evidence.second_upload_if_more", NonBlocking, func(s *Settings) { s.Evidence.SecondUploadIfMore = false }},
	{"evidence.second_upload_margin_bytes", NonBlocking, func(s *Settings) { s.Evidence.SecondUploadMargin = 5 }},
}

func TestFieldsAreClassified(t *testing.T) {
	var got, want []string
	for _, f := range Fields() {
		got = append(got, f.Path+" "+f.Class.String())
		if f.Label == "" || strings.HasSuffix(f.Label, ": ") {
			t.Errorf("%s has no label", f.Path)
		}
	}
	for _, c := range classes {
		want = append(want, c.path+" "+c.class.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Fields() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Each field changed alone gives exactly one difference, of its class.
func TestCompareEachField(t *testing.T) {
	for _, tc := range classes {
		t.Run(tc.path, func(t *testing.T) {
			a, b := full(), full()
			tc.change(&b)
			c := Compare(a, b)
			if len(c.Differences) != 1 {
				t.Fatalf("%d differences: %v", len(c.Differences), c.Differences)
			}
			d := c.Differences[0]
			if d.Field.Path != tc.path || d.Field.Class != tc.class || d.A == d.B {
				t.Fatalf("difference %v", d)
			}
			if got := c.Blocking(); got != (tc.class == Blocking) {
				t.Errorf("Blocking() = %v", got)
			}
			if got := c.Match(); got != (tc.class == Ignored) {
				t.Errorf("Match() = %v", got)
			}
			if got := len(c.Details()); got != map[Class]int{Blocking: 1, NonBlocking: 1, Ignored: 0}[tc.class] {
				t.Errorf("Details() = %q", c.Details())
			}
			if back := Compare(b, a); len(back.Differences) != 1 || back.Differences[0].A != d.B {
				t.Errorf("Compare is not symmetric: %v", back)
			}
		})
	}
}

func TestCompareSame(t *testing.T) {
	a, b := base(), base()
	b.Maintenance = []Window{} // nil and empty are the same setting
	if c := Compare(a, b); len(c.Differences) != 0 || c.Message() != "" || !c.Match() {
		t.Fatalf("Compare(equal) = %+v %q", c, c.Message())
	}
	// Durations are compared by value, not by spelling.
	x, _ := Apply(base(), []byte(`{"evidence":{"stalled_after":"60m"}}`))
	y, _ := Apply(base(), []byte(`{"evidence":{"stalled_after":"1h"}}`))
	if c := Compare(x, y); len(c.Differences) != 0 {
		t.Fatalf("60m vs 1h: %v", c.Differences)
	}
}

func TestMessage(t *testing.T) {
	change := func(paths ...string) Settings {
		s := full()
		for _, c := range classes {
			if slices.Contains(paths, c.path) {
				c.change(&s)
			}
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"none", nil, ""},
		{"ignored only", []string{"paired.role", "source.fps", "maintenance"}, ""},
		{"one blocking", []string{"fips"},
			"Settings differ between the servers: FIPS. Interviews cannot start until they match."},
		{"two blocking", []string{"room_id", "device_url"},
			"Settings differ between the servers: Room ID and Device URL. Interviews cannot start until they match."},
		{"all blocking and more", []string{"room_id", "device_id", "device_url", "fips", "mode", "source.fps"},
			"Settings differ between the servers: Room ID, Device ID, Device URL and FIPS. Interviews cannot start until they match. 1 other setting also differs."},
		{"blocking and two more", []string{"fips", "mode", "evidence.bucket"},
			"Settings differ between the servers: FIPS. Interviews cannot start until they match. 2 other settings also differ."},
		{"one non-blocking", []string{"fallback", "paired.preferred"},
			"1 setting differs between the servers; interviews can go on, but correct this promptly (details in the log)."},
		{"three non-blocking", []string{"evidence.retry_attempts", "evidence.upload_order", "evidence.takeover_after"},
			"3 settings differ between the servers; interviews can go on, but correct this promptly (details in the log)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(full(), change(tc.paths...))
			if got := c.Message(); got != tc.want {
				t.Fatalf("Message() =\n%q\nwant\n%q", got, tc.want)
			}
			if len(c.Differences) != len(tc.paths) {
				t.Fatalf("%d differences, want %d", len(c.Differences), len(tc.paths))
			}
		})
	}
}

func TestDetails(t *testing.T) {
	b := full()
	b.RoomID = "Room 2"
	b.Evidence.RetryAttempts = 2
	b.Source.FPS = 10
	got := Compare(full(), b).Details()
	want := []string{
		`Room ID (room_id, blocking): "Room 1" vs "Room 2"`,
		`Evidence upload: Retry attempts (evidence.retry_attempts, non-blocking): 9 vs 2`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Details() =\n%q\nwant\n%q", got, want)
	}
	// The comparison travels as JSON (the box may hand it to a server's log).
	js, err := json.Marshal(Compare(full(), b))
	if err != nil || !strings.Contains(string(js), `"class":"blocking"`) {
		t.Fatalf("json %s, %v", js, err)
	}
}

func TestComparisonRoundTrips(t *testing.T) {
	a, b := full(), full()
	for _, c := range classes {
		c.change(&b)
	}
	want := Compare(a, b)
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Comparison
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Differences, want.Differences) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, want)
	}
	var c Class
	if err := c.UnmarshalText([]byte("sometimes")); err == nil {
		t.Fatal("an unknown class decoded")
	}
}
