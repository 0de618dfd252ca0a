package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// FuzzRecordingID: whatever ID a client sends, the store either refuses it
// as invalid or keeps it as exactly one folder directly under recordings/.
func FuzzRecordingID(f *testing.F) {
	for _, s := range []string{"rec1", "..", ".", "a/b", "../x", "%2e%2e", "", "-x", "A_b-9", "x\x00y", "rec1/../../etc"} {
		f.Add(s)
	}
	dir := f.TempDir()
	s, err := New(Config{Dir: dir, RoomID: "room1"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	root := filepath.Join(dir, recordingDir)
	f.Fuzz(func(t *testing.T, id string) {
		_, _, err := s.Create(wire.CreateRequest{ID: id, Mode: wire.Buffered})
		valid := segment.ValidateID(id) == nil
		switch {
		case valid && err != nil:
			t.Fatalf("Create(%q) refused a valid ID: %v", id, err)
		case !valid && !errors.Is(err, ErrInvalid):
			t.Fatalf("Create(%q) = %v, want ErrInvalid", id, err)
		case !valid:
			return
		}
		if fi, err := os.Stat(filepath.Join(root, id)); err != nil || !fi.IsDir() {
			t.Fatalf("no folder for %q: %v", id, err)
		}
		if filepath.Dir(filepath.Join(root, id)) != root {
			t.Fatalf("%q escapes recordings/", id)
		}
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzSegmentName: segment names round-trip, and every seq the store
// accepts has a name that parses back (or a restart would lose it).
func FuzzSegmentName(f *testing.F) {
	f.Add("0000000000.m4s", uint64(0))
	f.Add("9999999999.m4s", MaxSeq)
	f.Add("00000000001.m4s", MaxSeq+1)
	f.Add("+000000001.m4s", uint64(1<<63))
	f.Fuzz(func(t *testing.T, name string, seq uint64) {
		if n, err := segment.ParseName(name); err == nil && segment.Name(n) != name {
			t.Fatalf("ParseName(%q) = %d but Name(%d) = %q", name, n, n, segment.Name(n))
		}
		if seq <= MaxSeq {
			if n, err := segment.ParseName(segment.Name(seq)); err != nil || n != seq {
				t.Fatalf("seq %d: name %q parses to %d, %v", seq, segment.Name(seq), n, err)
			}
		}
	})
}
