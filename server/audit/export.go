package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"twincap/encoder/segment"
)

// ExportFormat names the export's format and version.
const ExportFormat = "twincap-audit-export/1"

// MaxExport bounds an export document, in bytes.
const MaxExport = 64 << 20

// Export is one recording's audit entries with the proof that they are a
// contiguous part of a server's trail, from the recording's first entry to
// the trail's head when it was exported. It is meant to be written beside
// the recording's metadata and uploaded with it.
type Export struct {
	Format    string `json:"format"`
	Recording string `json:"recording"`
	// Prev is the hash of the entry before the first link.
	Prev  string `json:"prev"`
	Links []Link `json:"links"`
	// Head is the trail's last entry when the export was made; the last
	// link leads to it.
	Head Head `json:"head"`
}

// Link is one entry of the chain: whole when it concerns the recording,
// otherwise only its sequence number and its two digests (which reveal
// nothing about it but let the chain be recomputed, and show that it does
// not concern the recording).
type Link struct {
	Seq   uint64 `json:"seq"`
	Entry *Entry `json:"entry,omitempty"`
	Rec   string `json:"rec,omitempty"`  // hex recording digest
	Body  string `json:"body,omitempty"` // hex body digest
}

// Export gives recording's entries with their chain proof, or ErrNotFound.
func (l *Log) Export(recording string) (Export, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := -1
	for i, e := range l.entries {
		if e.Recording == recording {
			first = i
			break
		}
	}
	if recording == "" || first < 0 {
		return Export{}, fmt.Errorf("%w %q", ErrNotFound, recording)
	}
	x := Export{Format: ExportFormat, Recording: recording, Prev: l.entries[first].Prev, Head: l.head}
	for _, e := range l.entries[first:] {
		if e.Recording == recording {
			x.Links = append(x.Links, Link{Seq: e.Seq, Entry: &e})
			continue
		}
		r, b := recDigest(e.Recording), bodyDigest(e)
		x.Links = append(x.Links, Link{Seq: e.Seq, Rec: hex.EncodeToString(r[:]), Body: hex.EncodeToString(b[:])})
	}
	return x, nil
}

// ParseExport decodes an export strictly; VerifyExport checks it.
func ParseExport(data []byte) (Export, error) {
	if len(data) > MaxExport {
		return Export{}, fmt.Errorf("%w: export of %d bytes", ErrBadEntry, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var x Export
	if err := dec.Decode(&x); err != nil {
		return Export{}, fmt.Errorf("%w: export: %v", ErrBadEntry, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Export{}, fmt.Errorf("%w: export: data after the document", ErrBadEntry)
	}
	return x, nil
}

// VerifyExport recomputes the chain of an export from Prev to Head and
// returns the recording's entries. It fails (with ErrBroken) when an entry
// was altered, removed, reordered or inserted, or when an entry of the
// recording is shown only by its digests.
func VerifyExport(x Export) ([]Entry, error) {
	bad := func(seq uint64, format string, args ...any) error {
		return &ChainError{Seq: seq, Reason: "export: " + fmt.Sprintf(format, args...)}
	}
	if x.Format != ExportFormat {
		return nil, bad(0, "format %q, want %q", x.Format, ExportFormat)
	}
	if err := segment.ValidateID(x.Recording); err != nil {
		return nil, bad(0, "recording: %v", err)
	}
	if len(x.Links) == 0 || x.Links[0].Entry == nil {
		return nil, bad(0, "does not start with an entry of the recording")
	}
	h, err := decodeHash(x.Prev)
	if err != nil {
		return nil, bad(0, "prev: %v", err)
	}
	mine := recDigest(x.Recording)
	next := x.Links[0].Seq
	var out []Entry
	for _, ln := range x.Links {
		if ln.Seq != next || next == 0 {
			return nil, bad(next, "found entry %d: entries were removed, reordered or inserted", ln.Seq)
		}
		if e := ln.Entry; e != nil {
			if ln.Rec != "" || ln.Body != "" {
				return nil, bad(next, "a link has both an entry and digests")
			}
			if e.Seq != ln.Seq || e.Recording != x.Recording {
				return nil, bad(next, "entry %d of recording %q is listed as entry %d of %q", e.Seq, e.Recording, ln.Seq, x.Recording)
			}
			if err := e.Record().Validate(); err != nil {
				return nil, bad(next, "%v", err)
			}
			if e.Prev != hex.EncodeToString(h[:]) {
				return nil, bad(next, "prev is not the hash of the entry before")
			}
			if want, err := computeHash(*e); err != nil || e.Hash != want {
				return nil, bad(next, "hash does not match the content")
			}
			h, _ = decodeHash(e.Hash)
			out = append(out, *e)
		} else {
			r, err1 := decodeHash(ln.Rec)
			b, err2 := decodeHash(ln.Body)
			if err1 != nil || err2 != nil {
				return nil, bad(next, "digests: want 64 lower-case hex digits each")
			}
			if r == mine {
				return nil, bad(next, "an entry of the recording is hidden behind its digests")
			}
			h = linkHash(h, ln.Seq, r, b)
		}
		next++
	}
	if x.Head.Seq != next-1 || x.Head.Hash != hex.EncodeToString(h[:]) {
		return nil, bad(next-1, "the links do not lead to the head (entry %d)", x.Head.Seq)
	}
	return out, nil
}

// CheckExport verifies an export and that its head is an entry of this
// trail, so that it was made from this trail and the trail still holds it.
func (l *Log) CheckExport(x Export) ([]Entry, error) {
	entries, err := VerifyExport(x)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if x.Head.Seq == 0 || x.Head.Seq > uint64(len(l.entries)) || l.entries[x.Head.Seq-1].Hash != x.Head.Hash {
		return nil, &ChainError{Seq: x.Head.Seq, Reason: "export: its head is not an entry of this trail"}
	}
	return entries, nil
}
