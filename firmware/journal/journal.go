package journal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"twincap/encoder/segment"
)

var (
	// ErrNotFound is returned by Read for a segment the journal does not hold.
	ErrNotFound = errors.New("journal: segment not found")
	// ErrCorrupt is returned when bytes on disk fail their checksum: by Read
	// for a damaged record, and by Open for damage that is not a torn tail.
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrClosed is returned by every method of a closed journal.
	ErrClosed = errors.New("journal: closed")
	// ErrOutOfOrder is returned by Append for a segment whose Seq is not Next.
	ErrOutOfOrder = errors.New("journal: append out of order")
)

// Journal is the durable, append-only store of one interview's segments on
// the box, with the position each server has acknowledged. It is safe for
// concurrent use; appends are serialised, and reads never wait for one.
type Journal struct {
	dir       string
	log       *os.File // never reassigned after Open; ReadAt is safe concurrently
	nonce     uint64
	truncated int64

	appendMu  sync.Mutex // serialises Append, held across its write and fsync
	appendErr error      // a write or fsync failed: the tail is in doubt until reopened
	wbuf      []byte

	ackMu    sync.Mutex // serialises writes of the ack log
	ackLog   *os.File
	ackSize  int64
	ackDirty bool // rewrite the ack log whole on the next SetAcked

	metaMu sync.Mutex // serialises SetMeta

	edgeMu          sync.Mutex // serialises AppendChunk, held across its write and fsync
	edge            edgeState
	recoveredChunks int

	mu     sync.Mutex // guards what follows; never held during disk I/O
	closed bool
	index  []span // index[seq] locates segment seq
	end    int64  // where the next record goes
	acks   map[string]uint64
	meta   Meta
}

// span locates one record in the log.
type span struct {
	off int64  // of the record header
	n   uint32 // payload bytes
}

// Create makes a new journal in dir (creating dir if needed) with meta m
// written durably. It fails with an error matching fs.ErrExist if dir
// already holds a journal.
func Create(dir string, m Meta) (*Journal, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	ok, err := isJournal(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: create: %w", err)
	}
	if ok {
		return nil, fmt.Errorf("journal: create %s: %w", dir, fs.ErrExist)
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("journal: create: %w", err)
	}
	// Meta first: a folder with a meta is a journal for List even if the
	// power goes before the log exists, and Open then makes the log.
	if err := writeMeta(dir, m); err != nil {
		return nil, fmt.Errorf("journal: create: %w", err)
	}
	return Open(dir)
}

// Open opens the journal in dir, creating dir and an empty journal if
// needed, and recovers it: every record of the segment log is checked
// (header CRC, payload CRC, sequence, log nonce) and the in-memory index is
// rebuilt.
//
// Recovery rule: each Append is fsynced before the next one starts, so a
// power cut can damage only the last record. Damage with no intact record
// of this log after it is therefore a torn tail: it is cut (truncate +
// fsync) and TruncatedBytes reports how much. Damage followed by an intact
// record cannot come from a power cut; it is media damage or tampering in
// the middle of the log. Open then refuses with ErrCorrupt and changes
// nothing: cutting there would silently destroy later segments that are
// durable and may still be owed to a server, and would make the journal
// reuse sequence numbers that a server may already hold with other bytes.
// The folder is left as it is for a technician.
func Open(dir string) (*Journal, error) {
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	for _, name := range []string{metaName, logName, ackName} {
		// A temporary file is a write that never got renamed into place.
		os.Remove(filepath.Join(dir, name+tmpSuffix))
	}
	meta, err := readMeta(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	logPath := filepath.Join(dir, logName)
	ok, err := exists(logPath)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	if !ok {
		var nonce [8]byte
		rand.Read(nonce[:])
		if err := writeFileDurable(dir, logName, encodeFileHeader(le.Uint64(nonce[:]))); err != nil {
			return nil, fmt.Errorf("journal: open: create log: %w", err)
		}
	}
	f, err := os.OpenFile(logPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	j := &Journal{dir: dir, log: f, meta: meta}
	if err := j.recover(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	j.ackLog, j.acks, j.ackSize, err = openAcks(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: open %s: acks: %w", dir, err)
	}
	if err := j.openEdge(); err != nil {
		f.Close()
		j.ackLog.Close()
		if j.edge.f != nil {
			j.edge.f.Close()
		}
		return nil, fmt.Errorf("journal: open %s: edge log: %w", dir, err)
	}
	return j, nil
}

// recover scans the log, rebuilds the index and cuts a torn tail.
func (j *Journal) recover() error {
	fi, err := j.log.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	hdr := make([]byte, fileHeaderSize)
	if _, err := j.log.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	// The log is created whole by a rename, so a bad header is never torn.
	if j.nonce, err = decodeFileHeader(hdr[:min(int64(len(hdr)), size)]); err != nil {
		return err
	}
	off := int64(fileHeaderSize)
	var buf []byte
	for off < size {
		var h recHeader
		h, buf, err = j.readRecord(off, size, buf)
		if err != nil {
			return err
		}
		if buf == nil || h.seq != uint64(len(j.index)) {
			break
		}
		j.index = append(j.index, span{off: off, n: h.length})
		off += recHeaderSize + int64(h.length)
	}
	if off < size {
		at, h, found, err := j.findIntact(off, size)
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("%w: segment log damaged at offset %d (%d segments intact before it), yet intact segment %d follows at offset %d: not a torn tail, refusing to cut",
				ErrCorrupt, off, len(j.index), h.seq, at)
		}
		if err := j.log.Truncate(off); err != nil {
			return fmt.Errorf("cut torn tail: %w", err)
		}
		if err := j.log.Sync(); err != nil {
			return fmt.Errorf("cut torn tail: %w", err)
		}
		j.truncated = size - off
	}
	j.end = off
	return nil
}

// readRecord reads the record at off (in a log of size bytes) and checks its
// header, nonce and payload CRC. It returns a nil buffer if the bytes there
// are not an intact record of this log, and an error only for I/O failures.
// buf is reused.
func (j *Journal) readRecord(off, size int64, buf []byte) (recHeader, []byte, error) {
	if size-off < recHeaderSize {
		return recHeader{}, nil, nil
	}
	var hb [recHeaderSize]byte
	if _, err := j.log.ReadAt(hb[:], off); err != nil {
		return recHeader{}, nil, err
	}
	h, err := decodeHeader(hb[:])
	if err != nil || h.nonce != j.nonce || h.flags != 0 || size-off-recHeaderSize < int64(h.length) {
		return recHeader{}, nil, nil
	}
	if cap(buf) < int(h.length) {
		buf = make([]byte, h.length)
	}
	buf = buf[:h.length]
	if _, err := j.log.ReadAt(buf, off+recHeaderSize); err != nil {
		return recHeader{}, nil, err
	}
	if h.checkCRC(buf) != nil {
		return recHeader{}, nil, nil
	}
	return h, buf, nil
}

// findIntact looks for an intact record of this log at or after from.
func (j *Journal) findIntact(from, size int64) (int64, recHeader, bool, error) {
	const chunk = 1 << 20
	window := make([]byte, chunk+len(recMagic)-1)
	var buf []byte
	for pos := from; pos < size; pos += chunk {
		n, err := j.log.ReadAt(window[:min(int64(len(window)), size-pos)], pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, recHeader{}, false, err
		}
		w := window[:n]
		for i := nextMagic(w, 0); i >= 0 && i < chunk; i = nextMagic(w, i+1) {
			var h recHeader
			h, buf, err = j.readRecord(pos+int64(i), size, buf)
			if err != nil {
				return 0, recHeader{}, false, err
			}
			if buf != nil {
				return pos + int64(i), h, true, nil
			}
		}
	}
	return 0, recHeader{}, false, nil
}

// TruncatedBytes is how many bytes of torn tail Open cut from the log.
func (j *Journal) TruncatedBytes() int64 { return j.truncated }

// Meta is the journal's interview description.
func (j *Journal) Meta() Meta {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.meta
}

// SetMeta replaces the meta durably (tmp + fsync + rename + fsync dir).
func (j *Journal) SetMeta(m Meta) error {
	if err := m.validate(); err != nil {
		return err
	}
	j.metaMu.Lock()
	defer j.metaMu.Unlock()
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: set meta", ErrClosed)
	}
	if err := writeMeta(j.dir, m); err != nil {
		return fmt.Errorf("journal: set meta: %w", err)
	}
	j.mu.Lock()
	j.meta = m
	j.mu.Unlock()
	return nil
}

// Next is the sequence number the next Append must carry, which is also the
// number of segments held (0..Next()-1).
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return uint64(len(j.index))
}

// Append stores s at the end of the journal and returns once it is durable
// (fsynced). s.Seq must be Next() (ErrOutOfOrder otherwise) and s.Data must
// match s.Sum. If a write or fsync fails, the journal refuses further
// appends: after a failed fsync the kernel may have dropped the data, so
// the only safe way on is to Close and Open again, which cuts the tail (or
// keeps the record, if it did reach the disk whole: check Next after).
func (j *Journal) Append(s segment.Segment) error {
	j.appendMu.Lock()
	defer j.appendMu.Unlock()
	j.mu.Lock()
	closed, next, end := j.closed, uint64(len(j.index)), j.end
	j.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("%w: append %d", ErrClosed, s.Seq)
	case j.appendErr != nil:
		return fmt.Errorf("journal: append %d: an earlier write failed, reopen to recover: %w", s.Seq, j.appendErr)
	case s.Seq != next:
		return fmt.Errorf("%w: got segment %d, want %d", ErrOutOfOrder, s.Seq, next)
	case len(s.Data) > segment.MaxSize:
		return fmt.Errorf("journal: append %d: %d bytes, more than %d", s.Seq, len(s.Data), segment.MaxSize)
	}
	if err := s.Verify(); err != nil {
		return fmt.Errorf("journal: append: %w", err)
	}
	j.wbuf = appendRecord(j.wbuf[:0], j.nonce, s)
	if _, err := j.log.WriteAt(j.wbuf, end); err != nil {
		j.appendErr = err
		return fmt.Errorf("journal: append %d: %w", s.Seq, closedErr(err))
	}
	if err := j.log.Sync(); err != nil {
		j.appendErr = err
		return fmt.Errorf("journal: append %d: %w", s.Seq, closedErr(err))
	}
	if cap(j.wbuf) > 4<<20 {
		j.wbuf = nil // an unusually large segment; don't keep its buffer
	}
	j.mu.Lock()
	j.index = append(j.index, span{off: end, n: uint32(len(s.Data))})
	j.end = end + recHeaderSize + int64(len(s.Data))
	j.mu.Unlock()
	return nil
}

// Read reads segment seq back from disk and checks it (CRC-32C and the
// segment's SHA-256) before returning it: ErrNotFound if the journal does
// not hold seq, ErrCorrupt if the bytes on disk went bad.
func (j *Journal) Read(seq uint64) (segment.Segment, error) {
	j.mu.Lock()
	closed, held := j.closed, uint64(len(j.index))
	var sp span
	if seq < held {
		sp = j.index[seq]
	}
	j.mu.Unlock()
	if closed {
		return segment.Segment{}, fmt.Errorf("%w: read %d", ErrClosed, seq)
	}
	if seq >= held {
		return segment.Segment{}, fmt.Errorf("%w: segment %d (journal holds %d)", ErrNotFound, seq, held)
	}
	buf := make([]byte, recHeaderSize+int(sp.n))
	if _, err := j.log.ReadAt(buf, sp.off); err != nil {
		if errors.Is(err, io.EOF) {
			return segment.Segment{}, fmt.Errorf("%w: segment %d: log shorter than its index", ErrCorrupt, seq)
		}
		return segment.Segment{}, fmt.Errorf("journal: read %d: %w", seq, closedErr(err))
	}
	s, _, err := decodeRecord(buf)
	if err != nil {
		return segment.Segment{}, fmt.Errorf("journal: read %d: %w", seq, err)
	}
	if s.Seq != seq || len(s.Data) != int(sp.n) || le.Uint64(buf[8:]) != j.nonce {
		return segment.Segment{}, fmt.Errorf("%w: read %d: record at offset %d is not segment %d", ErrCorrupt, seq, sp.off, seq)
	}
	return s, nil
}

// Close closes the journal after any Append or SetAcked in progress
// finishes. Later calls fail with ErrClosed; closing twice is not an error.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.appendMu.Lock()
	defer j.appendMu.Unlock()
	j.ackMu.Lock()
	defer j.ackMu.Unlock()
	j.metaMu.Lock()
	defer j.metaMu.Unlock()
	j.edgeMu.Lock()
	defer j.edgeMu.Unlock()
	err := errors.Join(j.log.Close(), j.ackLog.Close(), j.edge.f.Close())
	if err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

// closedErr turns the os package's "file already closed" (a Read racing
// Close) into ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}
