package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"twincap/encoder/segment"
)

// recoverySizes are the payload sizes of the log the recovery tests cut
// and damage: small, so that every offset of the last two records can be
// tried, with an empty and a one-byte payload among them.
var recoverySizes = []int{1000, 0, 3000, 1, 200, 400}

// buildJournal writes a journal holding segments of the given sizes and
// returns its folder, the segments and where each record ends in the log.
func buildJournal(t *testing.T, sizes []int) (string, []segment.Segment, []int64) {
	t.Helper()
	dir := t.TempDir()
	j, err := Create(dir, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	var segs []segment.Segment
	var ends []int64
	end := int64(fileHeaderSize)
	for i, n := range sizes {
		s := seg(uint64(i), n)
		if err := j.Append(s); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, s)
		end += recHeaderSize + int64(n)
		ends = append(ends, end)
	}
	if err := j.SetAcked("a", 2); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, segs, ends
}

// copyJournal copies the journal in dir to a new folder, with the log cut
// to cut bytes if cut >= 0, and returns the new folder.
func copyJournal(t *testing.T, dir string, cut int64) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{metaName, logName, ackName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == logName && cut >= 0 {
			b = b[:cut]
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func readLog(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeLog(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, logName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRecovered opens a journal whose log was damaged after keep intact
// bytes holding the first whole segments, and checks that recovery cut
// exactly the rest, returns only intact segments, and appends afterwards.
func checkRecovered(t *testing.T, dir string, segs []segment.Segment, whole int, keep, size int64) {
	t.Helper()
	j, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer j.Close()
	if got := j.Next(); got != uint64(whole) {
		t.Fatalf("Next = %d, want %d", got, whole)
	}
	if got := j.TruncatedBytes(); got != size-keep {
		t.Fatalf("TruncatedBytes = %d, want %d", got, size-keep)
	}
	checkHolds(t, j, segs[:whole])
	if j.Acked("a") != 2 {
		t.Fatalf("Acked = %d after recovery, want 2", j.Acked("a"))
	}
	if fi, err := os.Stat(filepath.Join(dir, logName)); err != nil || fi.Size() != keep {
		t.Fatalf("log is %d bytes after recovery, want %d (%v)", fi.Size(), keep, err)
	}
	next := seg(uint64(whole), 77)
	if err := j.Append(next); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	j.Close()
	j, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen after recovery and append: %v", err)
	}
	defer j.Close()
	if j.TruncatedBytes() != 0 {
		t.Fatalf("second recovery cut %d bytes", j.TruncatedBytes())
	}
	checkHolds(t, j, append(segs[:whole:whole], next))
}

// TestRecoveryEveryCut cuts the log at every offset of the last two
// records and at a sample of offsets across the whole file, as a power
// cut during an append would (or worse), and recovers each.
func TestRecoveryEveryCut(t *testing.T) {
	dir, segs, ends := buildJournal(t, recoverySizes)
	size := ends[len(ends)-1]
	var cuts []int64
	for c := ends[len(ends)-3]; c < size; c++ {
		cuts = append(cuts, c)
	}
	for c := int64(0); c < ends[len(ends)-3]; c += 13 {
		cuts = append(cuts, c)
	}
	for _, cut := range cuts {
		cdir := copyJournal(t, dir, cut)
		if cut < fileHeaderSize {
			// The log is created whole by a rename; a short header is
			// damage, not a torn write.
			if _, err := Open(cdir); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d (in the log header): Open = %v, want ErrCorrupt", cut, err)
			}
			continue
		}
		whole, keep := 0, int64(fileHeaderSize)
		for whole < len(ends) && ends[whole] <= cut {
			keep = ends[whole]
			whole++
		}
		t.Run("", func(t *testing.T) {
			t.Logf("cut at %d: %d whole records", cut, whole)
			checkRecovered(t, cdir, segs, whole, keep, cut)
		})
	}
}

// TestRecoveryDamagedTail flips every byte of the last record in turn: the
// record cannot be told from a torn write, so it is cut.
func TestRecoveryDamagedTail(t *testing.T) {
	dir, segs, ends := buildJournal(t, recoverySizes)
	n := len(ends)
	log := readLog(t, dir)
	for off := ends[n-2]; off < ends[n-1]; off++ {
		cdir := copyJournal(t, dir, -1)
		b := bytes.Clone(log)
		b[off] ^= 0x41
		writeLog(t, cdir, b)
		t.Run("", func(t *testing.T) {
			t.Logf("byte %d flipped", off)
			checkRecovered(t, cdir, segs, n-1, ends[n-2], ends[n-1])
		})
	}
}

// TestRecoveryDamagedMiddle flips bytes of every record but the last and
// of the log header. Damage followed by an intact record is not a torn
// write: Open must refuse with ErrCorrupt and leave the log untouched,
// never skip the record nor cut the intact ones after it.
func TestRecoveryDamagedMiddle(t *testing.T) {
	dir, _, ends := buildJournal(t, recoverySizes)
	log := readLog(t, dir)
	var offs []int64
	for off := int64(0); off < ends[len(ends)-2]; off += 7 {
		offs = append(offs, off)
	}
	for off := ends[1]; off < ends[1]+recHeaderSize; off++ {
		offs = append(offs, off) // every header byte of a record
	}
	for _, off := range offs {
		cdir := copyJournal(t, dir, -1)
		b := bytes.Clone(log)
		b[off] ^= 0x08
		writeLog(t, cdir, b)
		if j, err := Open(cdir); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				j.Close()
			}
			t.Fatalf("byte %d flipped: Open = %v, want ErrCorrupt", off, err)
		}
		if !bytes.Equal(readLog(t, cdir), b) {
			t.Fatalf("byte %d flipped: Open changed the log", off)
		}
	}
}

// TestRecoveryTail covers what a power cut or a reused disk block can
// leave after the last record, and what it cannot.
func TestRecoveryTail(t *testing.T) {
	dir, segs, ends := buildJournal(t, recoverySizes)
	n := len(ends)
	log := readLog(t, dir)
	foreign := appendRecord(nil, testNonce, seg(uint64(n), 300)) // another log's nonce
	own := func(s segment.Segment) []byte {
		j := open(t, copyJournal(t, dir, -1))
		return appendRecord(nil, j.nonce, s)
	}
	for _, c := range []struct {
		name    string
		tail    []byte
		corrupt bool
	}{
		{"zeros", make([]byte, 4096), false},
		{"garbage", pattern(99, 5000), false},
		{"record of another journal", foreign, false},
		{"torn record then record of another journal", append(own(seg(uint64(n), 500))[:200], foreign...), false},
		{"magic alone", []byte(recMagic), false},
		{"intact record after a gap in seq", own(seg(uint64(n+1), 10)), true},
		{"torn record then intact record", append(own(seg(uint64(n), 500))[:200], own(seg(uint64(n+1), 10))...), true},
		{"repeat of the last record", own(segs[n-1]), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cdir := copyJournal(t, dir, -1)
			b := append(bytes.Clone(log), c.tail...)
			writeLog(t, cdir, b)
			if c.corrupt {
				if _, err := Open(cdir); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				if !bytes.Equal(readLog(t, cdir), b) {
					t.Fatal("Open changed the log")
				}
				return
			}
			checkRecovered(t, cdir, segs, n, ends[n-1], int64(len(b)))
		})
	}
}

// TestReadDetectsLateDamage: damage after Open is caught by Read.
func TestReadDetectsLateDamage(t *testing.T) {
	dir, segs, ends := buildJournal(t, recoverySizes)
	j := open(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flip := func(off int64) {
		var b [1]byte
		f.ReadAt(b[:], off)
		b[0] ^= 0x02
		f.WriteAt(b[:], off)
	}
	for _, off := range []int64{ends[1] + 3, ends[1] + 20, ends[1] + recHeaderSize + 5} {
		flip(off)
		if _, err := j.Read(2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: Read = %v, want ErrCorrupt", off, err)
		}
		flip(off)
	}
	checkHolds(t, j, segs)
}
