package audit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExport(t *testing.T) {
	l, _ := written(t)
	x, err := l.Export("rec-1")
	if err != nil {
		t.Fatal(err)
	}
	// rec-1's first entry is 2; the proof runs to the head (11).
	if x.Links[0].Seq != 2 || len(x.Links) != 10 || x.Head != l.Head() {
		t.Fatalf("export: first %d, %d links, head %+v", x.Links[0].Seq, len(x.Links), x.Head)
	}
	for _, ln := range x.Links {
		if ln.Entry == nil && strings.Contains(ln.Rec+ln.Body, "alice") {
			t.Fatal("digest link leaks content")
		}
	}
	got, err := VerifyExport(x)
	if err != nil {
		t.Fatal(err)
	}
	if want := l.Entries(Filter{Recording: "rec-1"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("VerifyExport = %+v\nwant %+v", got, want)
	}
	// It travels as JSON.
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	x2, err := ParseExport(b)
	if err != nil {
		t.Fatal(err)
	}
	if got2, err := l.CheckExport(x2); err != nil || !reflect.DeepEqual(got2, got) {
		t.Fatalf("CheckExport(parsed) = %v", err)
	}
	// Entries appended after the export do not invalidate it.
	if _, err := l.Append(Record{Actor: "alice", Action: Login}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CheckExport(x2); err != nil {
		t.Fatal(err)
	}
	// Another trail does not hold it.
	other, err := Open(Config{Path: filepath.Join(t.TempDir(), "other.log"), Now: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Same records, one more before them: a different chain.
	for _, r := range append([]Record{{Actor: "carol", Action: Login}}, script...) {
		if _, err := other.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.CheckExport(x2); !errors.Is(err, ErrBroken) {
		t.Fatalf("CheckExport on another trail = %v", err)
	}
	for _, id := range []string{"rec-9", ""} {
		if _, err := l.Export(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Export(%q) = %v", id, err)
		}
	}
	// The last entry of a recording may be the head itself.
	x3, err := l.Export("rec-2")
	if err != nil {
		t.Fatal(err)
	}
	if es, err := VerifyExport(x3); err != nil || len(es) != 2 {
		t.Fatalf("rec-2: %v, %v", es, err)
	}
}

func TestExportTamper(t *testing.T) {
	l, _ := written(t)
	orig, err := l.Export("rec-1")
	if err != nil {
		t.Fatal(err)
	}
	// clone deep-copies through JSON.
	clone := func() Export {
		b, _ := json.Marshal(orig)
		x, err := ParseExport(b)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	digests := func(e Entry) Link {
		r, b := recDigest(e.Recording), bodyDigest(e)
		return Link{Seq: e.Seq, Rec: hex.EncodeToString(r[:]), Body: hex.EncodeToString(b[:])}
	}
	for _, tc := range []struct {
		name string
		edit func(x *Export)
	}{
		{"alter details", func(x *Export) { x.Links[0].Entry.Details = "unbuffered" }},
		{"alter actor", func(x *Export) { x.Links[2].Entry.Actor = "mallory" }},
		{"alter time", func(x *Export) { x.Links[0].Entry.Time = x.Links[0].Entry.Time.Add(1) }},
		{"remove a link", func(x *Export) { x.Links = append(x.Links[:3], x.Links[4:]...) }},
		{"remove the last link", func(x *Export) { x.Links = x.Links[:len(x.Links)-1] }},
		{"swap links", func(x *Export) { x.Links[1], x.Links[2] = x.Links[2], x.Links[1] }},
		{"insert a link", func(x *Export) {
			x.Links = append(x.Links[:2:2], append([]Link{x.Links[1]}, x.Links[2:]...)...)
		}},
		{"hide an entry of the recording", func(x *Export) { x.Links[2] = digests(*x.Links[2].Entry) }},
		{"alter a digest", func(x *Export) { x.Links[1].Body = strings.Repeat("0", 64) }},
		{"relabel an entry", func(x *Export) { x.Links[0].Entry.Recording = "rec-2"; x.Recording = "rec-2" }},
		{"entry with digests", func(x *Export) { x.Links[0].Rec = x.Links[1].Rec }},
		{"wrong seq", func(x *Export) { x.Links[0].Entry.Seq = 3 }},
		{"start with digests", func(x *Export) { x.Links[0] = digests(*x.Links[0].Entry) }},
		{"alter prev", func(x *Export) { x.Prev = strings.Repeat("1", 64) }},
		{"alter head", func(x *Export) { x.Head.Hash = strings.Repeat("2", 64) }},
		{"head too far", func(x *Export) { x.Head.Seq++ }},
		{"no links", func(x *Export) { x.Links = nil }},
		{"format", func(x *Export) { x.Format = "twincap-audit-export/2" }},
		{"bad recording", func(x *Export) { x.Recording = "../rec-1" }},
		{"bad digest", func(x *Export) { x.Links[1].Rec = "xyz" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := clone()
			if _, err := VerifyExport(x); err != nil {
				t.Fatalf("clone does not verify: %v", err)
			}
			tc.edit(&x)
			if _, err := VerifyExport(x); !errors.Is(err, ErrBroken) {
				t.Fatalf("VerifyExport after %s = %v", tc.name, err)
			}
		})
	}
}

func TestParseExportStrict(t *testing.T) {
	for _, s := range []string{
		`{"format":"twincap-audit-export/1","extra":1}`,
		`{"links":[{"seq":1,"entry":{"action":"erase"}}]}`,
		`{} {}`,
		`[`,
	} {
		if _, err := ParseExport([]byte(s)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("ParseExport(%s) = %v", s, err)
		}
	}
}
