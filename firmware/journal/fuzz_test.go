package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"twincap/encoder/segment"
)

// fuzzLog is the records region of a log (after the file header, nonce
// testNonce) holding the small segments of recordCases, numbered 0, 1, ...
func fuzzLog() []byte {
	var b []byte
	for _, s := range renumbered() {
		if len(s.Data) <= 1<<10 {
			b = appendRecord(b, testNonce, s)
		}
	}
	return b
}

// FuzzOpen feeds arbitrary bytes as the records of a segment log. Open
// must not panic; it either refuses with ErrCorrupt (changing nothing) or
// recovers a journal whose every segment reads back and verifies, and that
// takes an append.
func FuzzOpen(f *testing.F) {
	log := fuzzLog()
	f.Add(log)
	f.Add(log[:len(log)-3])
	f.Add(log[:len(log)/2])
	flipped := bytes.Clone(log)
	flipped[len(flipped)/3] ^= 1
	f.Add(flipped)
	f.Add(append(bytes.Clone(log), make([]byte, 100)...))
	f.Add([]byte{})
	f.Add([]byte(recMagic))
	// A record whose CRCs agree with a payload that is not the one its
	// SHA-256 names: recovery keeps it, Read must still refuse it.
	lie := appendRecord(nil, testNonce, segment.New(0, 0, 0, []byte("truth")))
	lie[recHeaderSize] ^= 1
	le.PutUint32(lie[44:], crc(lie[recHeaderSize:]))
	resealHeader(lie)
	f.Add(lie)
	f.Fuzz(func(t *testing.T, records []byte) {
		dir := t.TempDir()
		in := append(encodeFileHeader(testNonce), records...)
		writeLog(t, dir, in)
		meta, _ := encodeMeta(testMeta)
		if err := os.WriteFile(filepath.Join(dir, metaName), meta, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ackName), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want nil or ErrCorrupt", err)
			}
			if !bytes.Equal(readLog(t, dir), in) {
				t.Fatal("Open refused the log but changed it")
			}
			return
		}
		defer j.Close()
		n := j.Next()
		kept := int64(len(in)) - j.TruncatedBytes()
		if fi, err := os.Stat(filepath.Join(dir, logName)); err != nil || fi.Size() != kept {
			t.Fatalf("log is %d bytes, want %d (%v)", fi.Size(), kept, err)
		}
		if !bytes.Equal(readLog(t, dir), in[:kept]) {
			t.Fatal("recovery changed bytes it kept")
		}
		for seq := range n {
			s, err := j.Read(seq)
			if err == nil {
				if err := s.Verify(); err != nil || s.Seq != seq {
					t.Fatalf("Read(%d) returned seq %d, verify %v", seq, s.Seq, err)
				}
				continue
			}
			// Only a record whose CRCs hold but whose SHA-256 does not can
			// pass recovery and fail Read.
			sp := j.index[seq]
			h, herr := decodeHeader(in[sp.off:])
			payload := in[sp.off+recHeaderSize : sp.off+recHeaderSize+int64(sp.n)]
			if !errors.Is(err, ErrCorrupt) || herr != nil || h.checkCRC(payload) != nil || segment.Sum(payload) == h.sum {
				t.Fatalf("Read(%d) = %v for a record recovery accepted", seq, err)
			}
		}
		if _, err := j.Read(n); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Read(Next) = %v, want ErrNotFound", err)
		}
		if err := j.Append(segment.New(n, 0, 0, []byte("after"))); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
	})
}

// FuzzOpenEdge feeds arbitrary bytes as the edge log of a journal holding
// segments 0 and 1. Open must not panic or fail on them: it journals
// segment 2 from an intact run of its chunks or leaves the log as it was,
// and empties the edge log either way.
func FuzzOpenEdge(f *testing.F) {
	var run []byte
	for i, c := range []string{"chunk zero", "", "chunk two"} {
		run = appendChunkRecord(run, testNonce, 2, i, 0, 1, []byte(c))
	}
	f.Add(run)
	f.Add(run[:len(run)-2])
	f.Add(appendChunkRecord(nil, testNonce, 1, 0, 0, 1, []byte("journaled already")))
	f.Add(appendRecord(nil, testNonce, seg(2, 30)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, edge []byte) {
		dir := t.TempDir()
		writeLog(t, dir, appendRecord(appendRecord(encodeFileHeader(testNonce), testNonce, seg(0, 10)), testNonce, seg(1, 20)))
		meta, _ := encodeMeta(testMeta)
		for name, b := range map[string][]byte{metaName: meta, ackName: nil, edgeName: edge} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		j, err := Open(dir)
		if err != nil {
			t.Fatalf("Open = %v for an edge log of %d bytes", err, len(edge))
		}
		defer j.Close()
		switch n := j.Next(); {
		case n == 2 && j.RecoveredChunks() == 0:
		case n == 3 && j.RecoveredChunks() > 0:
			s, err := j.Read(2)
			if err != nil || s.Verify() != nil {
				t.Fatalf("Read(2) = %d bytes, %v", len(s.Data), err)
			}
		default:
			t.Fatalf("Next %d with %d chunks recovered", n, j.RecoveredChunks())
		}
		if fi, err := os.Stat(filepath.Join(dir, edgeName)); err != nil || fi.Size() != 0 {
			t.Fatalf("the edge log was not emptied (%v)", err)
		}
		if err := j.Append(segment.New(j.Next(), 0, 0, []byte("after"))); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
	})
}
