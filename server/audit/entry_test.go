package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 9, 30, 0, 123456789, time.UTC)

// sealed is an entry with its hash filled in.
func sealed(e Entry) Entry {
	h, err := computeHash(e)
	if err != nil {
		panic(err)
	}
	e.Hash = h
	return e
}

func mustEncode(e Entry) string {
	b, err := Encode(e)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var goodEntry = sealed(Entry{Seq: 1, Time: t0, Actor: "alice", Action: Start, Recording: "rec-1",
	Details: `room "1" <ok> & ünïcode`, Prev: GenesisHash})

// lineCases is shared by TestParseLine and FuzzParseLine.
var lineCases = []struct {
	name string
	line string
	ok   bool
}{
	{"good", mustEncode(goodEntry), true},
	{"no recording or details", mustEncode(sealed(Entry{Seq: 7, Time: t0, Actor: SystemActor, Action: Update, Prev: goodEntry.Hash})), true},
	{"edited detail", strings.Replace(mustEncode(goodEntry), "room", "roam", 1), false},
	{"edited actor", strings.Replace(mustEncode(goodEntry), "alice", "alicf", 1), false},
	{"edited time", strings.Replace(mustEncode(goodEntry), "09:30", "09:31", 1), false},
	{"edited seq", strings.Replace(mustEncode(goodEntry), `"seq":1`, `"seq":2`, 1), false},
	{"edited prev", strings.Replace(mustEncode(goodEntry), `"prev":"0`, `"prev":"1`, 1), false},
	{"key case", strings.Replace(mustEncode(goodEntry), `"actor"`, `"Actor"`, 1), false},
	{"unknown field", strings.Replace(mustEncode(goodEntry), `{"seq"`, `{"x":1,"seq"`, 1), false},
	{"duplicate field", strings.Replace(mustEncode(goodEntry), `{"seq":1`, `{"seq":1,"seq":1`, 1), false},
	{"space", strings.Replace(mustEncode(goodEntry), `"seq":1`, `"seq": 1`, 1), false},
	{"unescaped html", strings.Replace(mustEncode(goodEntry), `\u003cok\u003e`, `<ok>`, 1), false},
	{"offset time", strings.Replace(mustEncode(goodEntry), "123456789Z", "123456789+00:00", 1), false},
	{"trailing data", mustEncode(goodEntry) + " ", false},
	{"two objects", mustEncode(goodEntry) + "{}", false},
	{"seq zero", mustEncode(sealed(Entry{Seq: 0, Time: t0, Actor: "a", Action: Login, Prev: GenesisHash})), false},
	{"unknown action", mustEncode(sealed(Entry{Seq: 1, Time: t0, Actor: "a", Action: "erase", Prev: GenesisHash})), false},
	{"no actor", mustEncode(sealed(Entry{Seq: 1, Time: t0, Action: Login, Prev: GenesisHash})), false},
	{"bad recording", mustEncode(sealed(Entry{Seq: 1, Time: t0, Actor: "a", Action: Stop, Recording: "../x", Prev: GenesisHash})), false},
	{"upper-case hash", strings.ToUpper(mustEncode(goodEntry)), false},
	{"short hash", strings.Replace(mustEncode(goodEntry), goodEntry.Hash, goodEntry.Hash[:62], 1), false},
	{"empty", "", false},
	{"not json", "seq=1", false},
	{"null", "null", false},
	{"too long", strings.Repeat(" ", MaxLine+1), false},
}

func TestParseLine(t *testing.T) {
	for _, tc := range lineCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLine([]byte(tc.line))
			if tc.ok != (err == nil) {
				t.Fatalf("ParseLine = %+v, %v; want ok=%v", e, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadEntry) {
					t.Fatalf("error %v does not match ErrBadEntry", err)
				}
				return
			}
			if back := mustEncode(e); back != tc.line {
				t.Fatalf("Encode(ParseLine(x)) = %s, want %s", back, tc.line)
			}
		})
	}
	e, err := ParseLine([]byte(lineCases[0].line))
	if err != nil || e != goodEntry {
		t.Fatalf("ParseLine(good) = %+v, %v; want %+v", e, err, goodEntry)
	}
}

func TestRecordValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		ok   bool
	}{
		{"login", Record{Actor: "alice", Action: Login}, true},
		{"every action", Record{Actor: "a", Action: Deletion, Recording: "r1", Details: "x\ny"}, true},
		{"no actor", Record{Action: Login}, false},
		{"control in actor", Record{Actor: "a\nb", Action: Login}, false},
		{"long actor", Record{Actor: strings.Repeat("a", MaxActor+1), Action: Login}, false},
		{"unknown action", Record{Actor: "a", Action: "erase"}, false},
		{"empty action", Record{Actor: "a"}, false},
		{"bad recording", Record{Actor: "a", Action: Stop, Recording: "a/b"}, false},
		{"long details", Record{Actor: "a", Action: Stop, Details: strings.Repeat("x", MaxDetails+1)}, false},
		{"invalid utf-8", Record{Actor: "a", Action: Stop, Details: "\xff"}, false},
	} {
		if err := tc.r.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadEntry)) {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
	for _, a := range actions {
		if got, err := ParseAction(string(a)); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
	}
}

// The hash is the construction doc.go documents, written out again here
// independently, so that anyone can check a trail with the doc alone.
func TestHashIsDocumented(t *testing.T) {
	field := func(s string) []byte {
		return append([]byte{byte(len(s) >> 24), byte(len(s) >> 16), byte(len(s) >> 8), byte(len(s))}, s...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, e := range []Entry{goodEntry, {Seq: 300, Time: t0, Actor: "ab", Action: Login, Details: "c", Prev: goodEntry.Hash},
		{Seq: 300, Time: t0, Actor: "a", Action: Login, Details: "bc", Prev: goodEntry.Hash}} {
		rec := sha256.Sum256(cat([]byte("twincap-audit-recording-v1\x00"), []byte(e.Recording)))
		body := sha256.Sum256(cat([]byte("twincap-audit-body-v1\x00"), field(e.Time.UTC().Format(time.RFC3339Nano)),
			field(e.Actor), field(string(e.Action)), field(e.Details)))
		prev, _ := hex.DecodeString(e.Prev)
		seq := make([]byte, 8)
		binary.BigEndian.PutUint64(seq, e.Seq)
		want := sha256.Sum256(cat([]byte("twincap-audit-link-v1\x00"), prev, seq, rec[:], body[:]))
		got, err := computeHash(e)
		if err != nil || got != hex.EncodeToString(want[:]) {
			t.Fatalf("computeHash(%+v) = %s, %v; want %x", e, got, err, want)
		}
	}
	a, _ := computeHash(Entry{Seq: 1, Time: t0, Actor: "ab", Action: Login, Details: "c", Prev: GenesisHash})
	b, _ := computeHash(Entry{Seq: 1, Time: t0, Actor: "a", Action: Login, Details: "bc", Prev: GenesisHash})
	if a == b {
		t.Fatal("length prefixes do not separate fields")
	}
}
