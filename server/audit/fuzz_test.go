package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParseLine: a line is either refused with ErrBadEntry or is exactly
// the canonical encoding of an entry whose hash matches.
func FuzzParseLine(f *testing.F) {
	for _, tc := range lineCases {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error %v does not match ErrBadEntry", err)
			}
			return
		}
		b, err := Encode(e)
		if err != nil || !bytes.Equal(b, line) {
			t.Fatalf("accepted a non-canonical line %q (canonical %q, %v)", line, b, err)
		}
		if h, err := computeHash(e); err != nil || h != e.Hash {
			t.Fatalf("accepted a line whose hash does not match")
		}
		if err := e.Record().Validate(); err != nil {
			t.Fatalf("accepted an invalid record: %v", err)
		}
	})
}

// FuzzVerifyExport: whatever export arrives, VerifyExport never panics, and
// what it accepts survives a round trip and yields only the recording's
// entries.
func FuzzVerifyExport(f *testing.F) {
	l, err := Open(Config{Path: filepath.Join(f.TempDir(), "audit.log"), Now: newClock()})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	for _, r := range script {
		if _, err := l.Append(r); err != nil {
			f.Fatal(err)
		}
	}
	for _, id := range []string{"rec-1", "rec-2"} {
		x, err := l.Export(id)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := json.Marshal(x)
		f.Add(b)
	}
	f.Add([]byte(`{"format":"twincap-audit-export/1","recording":"r","links":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ParseExport(data)
		if err != nil {
			return
		}
		es, err := VerifyExport(x)
		if err != nil {
			if !errors.Is(err, ErrBroken) {
				t.Fatalf("error %v does not match ErrBroken", err)
			}
			return
		}
		for _, e := range es {
			if e.Recording != x.Recording {
				t.Fatalf("entry of %q in an export of %q", e.Recording, x.Recording)
			}
		}
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		x2, err := ParseExport(b)
		if err != nil {
			t.Fatal(err)
		}
		es2, err := VerifyExport(x2)
		if err != nil || !reflect.DeepEqual(es, es2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
