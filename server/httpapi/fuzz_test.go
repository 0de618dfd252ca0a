package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// FuzzDecodeJSON: any body either decodes into every request type or is
// refused as a bad request; never a panic, never another kind of error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"username":"a","password":"b"}`,
		`{"id":"rec1","room_id":"r","box_id":"b","mode":"buffered","started_at":"2026-11-25T09:00:00Z"}`,
		`{"from":1,"to":2,"reason":"x"}`,
		`{"count":3,"stopped_at":"2026-11-25T09:00:00Z"}`,
		`{"count":-1}`, `{} {}`, `[]`, `null`, `{"x":1}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&wire.LoginRequest{}, &wire.CreateRequest{}, &wire.Gap{}, &wire.StopRequest{}} {
			err := decodeJSON(strings.NewReader(string(data)), v)
			if err != nil && !errors.Is(err, errBadRequest) {
				t.Fatalf("decode %q: %v is not a bad request", data, err)
			}
			if err != nil && status(err) != http.StatusBadRequest {
				t.Fatalf("status %d", status(err))
			}
		}
	})
}

// FuzzPath: whatever passes checkPath names a recording by a valid ID, and
// segment names round-trip.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"rec1", "..", "%2e%2e", "a%2Fb", "rec1/segments/0", "x/../y", "%", "0000000001.m4s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse("https://h" + recordingsPrefix + s)
		if err != nil {
			return
		}
		if checkPath(u) == nil {
			rest := strings.TrimPrefix(u.EscapedPath(), recordingsPrefix)
			first, _, _ := strings.Cut(rest, "/")
			id, _ := url.PathUnescape(first)
			if segment.ValidateID(id) != nil || strings.Contains(id, "/") || strings.Contains(id, ".") {
				t.Fatalf("accepted ID %q from %q", id, s)
			}
		}
		if seq, err := segment.ParseName(s); err == nil {
			if segment.Name(seq) != s {
				t.Fatalf("ParseName(%q) = %d, Name = %q", s, seq, segment.Name(seq))
			}
		}
		if seq, err := parseSeq(s); err == nil && strconv.FormatUint(seq, 10) != s {
			t.Fatalf("parseSeq(%q) = %d", s, seq)
		}
	})
}
