package journal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"twincap/encoder/segment"
)

// The edge log (edge.log) keeps the CMAF chunks of the segment the encoder
// is cutting, each made durable as it is cut, so that a power cut or a hang
// costs the chunk being cut and what is still in the encoder, not the whole
// segment being filled.
//
// It holds records as the segment log does (record.go), flagged flagChunk
// and numbered by part, with the segment log's nonce and no file header.
// Part 0 of a segment empties the file and is written at its start; each
// further part goes after the one before; each is fsynced before
// AppendChunk returns. A segment is its chunks' bytes in order, so the run
// of chunks found there after a crash is a segment too, only shorter.
//
// Open, for an interview still recording, turns that run into a segment:
// when it starts at part 0 of segment Next() and every chunk after it is
// intact and the next part of the same segment, the chunks are joined and
// appended to the segment log as that segment, lasting from the first
// chunk's start to the last one's end. Anything after the run (a torn
// chunk) is dropped, and so is a run of a segment the log already holds.
// The edge log is then emptied. Nothing else reads it: the servers only
// ever get segments from the segment log.
const edgeName = "edge.log"

// edgeLimit bounds what Open reads of the edge log: a segment's chunks,
// with their headers, never come near it.
const edgeLimit = 2 * segment.MaxSize

// edgeState is the run of chunks the edge log holds, guarded by edgeMu.
type edgeState struct {
	f     *os.File
	seq   uint64
	parts int   // chunks of seq written; 0: none yet, the next must be part 0
	end   int64 // where the next chunk goes
	bytes int   // payload bytes of the run
	err   error // a write or fsync failed: no more chunks until the next part 0
	buf   []byte
}

// AppendChunk makes chunk part of segment seq durable in the edge log:
// data are its bytes, start and end its media time. Part 0 starts the
// segment; other parts must follow in order (ErrOutOfOrder otherwise, and
// the run is dropped until the next part 0). A chunk of a segment the
// journal already holds is not needed and is ignored. After a failed write
// the segment's later chunks are refused; the segment itself is still
// journaled whole by Append.
func (j *Journal) AppendChunk(seq uint64, part int, start, end time.Duration, data []byte) error {
	j.edgeMu.Lock()
	defer j.edgeMu.Unlock()
	j.mu.Lock()
	closed, next := j.closed, uint64(len(j.index))
	j.mu.Unlock()
	e := &j.edge
	switch {
	case closed:
		return fmt.Errorf("%w: chunk %d of segment %d", ErrClosed, part, seq)
	case seq < next:
		return nil
	case part < 0 || part > 0xffff:
		return fmt.Errorf("journal: chunk %d of segment %d: part out of range", part, seq)
	case part > 0 && e.err != nil:
		return fmt.Errorf("journal: chunk %d of segment %d: an earlier chunk's write failed: %w", part, seq, e.err)
	case part > 0 && (e.parts != part || e.seq != seq):
		err := fmt.Errorf("%w: got chunk %d of segment %d, want chunk %d of segment %d", ErrOutOfOrder, part, seq, e.parts, e.seq)
		e.parts = 0
		return err
	case part > 0 && e.bytes+len(data) > segment.MaxSize, len(data) > segment.MaxSize:
		e.parts = 0
		return fmt.Errorf("journal: chunk %d of segment %d: the segment's chunks pass %d bytes", part, seq, segment.MaxSize)
	}
	if part == 0 {
		e.seq, e.parts, e.end, e.bytes, e.err = seq, 0, 0, 0, nil
		// Emptied before the write, made durable with it by the same
		// fsync: what follows part 0 on disk is never an older run.
		if err := e.f.Truncate(0); err != nil {
			e.err = err
			return fmt.Errorf("journal: chunk 0 of segment %d: %w", seq, closedErr(err))
		}
	}
	e.buf = appendChunkRecord(e.buf[:0], j.nonce, seq, part, start, end, data)
	if _, err := e.f.WriteAt(e.buf, e.end); err != nil {
		e.err = err
		return fmt.Errorf("journal: chunk %d of segment %d: %w", part, seq, closedErr(err))
	}
	if err := e.f.Sync(); err != nil {
		e.err = err
		return fmt.Errorf("journal: chunk %d of segment %d: %w", part, seq, closedErr(err))
	}
	e.parts++
	e.end += int64(len(e.buf))
	e.bytes += len(data)
	if cap(e.buf) > 4<<20 {
		e.buf = nil
	}
	return nil
}

// RecoveredChunks is how many chunks of a segment that was being cut Open
// found in the edge log and journaled as that segment (0: none).
func (j *Journal) RecoveredChunks() int { return j.recoveredChunks }

func appendChunkRecord(dst []byte, nonce, seq uint64, part int, start, end time.Duration, data []byte) []byte {
	dst = appendRecord(dst, nonce, segment.Segment{Seq: seq, Start: start, Duration: end - start, Data: data})
	h := dst[len(dst)-len(data)-recHeaderSize:]
	h[5] = flagChunk
	le.PutUint16(h[6:], uint16(part))
	le.PutUint32(h[80:], crc(h[:80]))
	return dst
}

// openEdge opens (or creates) the edge log and, while the interview is
// recording, journals the segment its chunks make up.
func (j *Journal) openEdge() error {
	path := filepath.Join(j.dir, edgeName)
	had, err := exists(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if !had {
		if err := syncDir(j.dir); err != nil {
			f.Close()
			return err
		}
	}
	j.edge.f = f
	if j.meta.State == StateRecording {
		if err := j.recoverEdge(); err != nil {
			return err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > 0 {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// recoverEdge appends the run of chunks in the edge log as segment Next().
func (j *Journal) recoverEdge() error {
	b, err := io.ReadAll(io.LimitReader(j.edge.f, edgeLimit))
	if err != nil {
		return err
	}
	next := uint64(len(j.index))
	var (
		data       []byte
		start, end int64
		n          int
	)
	for off := 0; len(b)-off >= recHeaderSize; {
		h, err := decodeHeader(b[off:])
		if err != nil || h.flags != flagChunk || h.nonce != j.nonce || h.seq != next || int(h.part) != n ||
			len(b)-off-recHeaderSize < int(h.length) || len(data)+int(h.length) > segment.MaxSize {
			break
		}
		payload := b[off+recHeaderSize : off+recHeaderSize+int(h.length)]
		if h.checkCRC(payload) != nil {
			break
		}
		if n == 0 {
			start = h.start
		}
		end = h.start + h.dur
		data = append(data, payload...)
		n++
		off += recHeaderSize + int(h.length)
	}
	if n == 0 {
		return nil
	}
	if err := j.Append(segment.New(next, time.Duration(start), time.Duration(end-start), data)); err != nil {
		return fmt.Errorf("journal the %d chunks of segment %d: %w", n, next, err)
	}
	j.recoveredChunks = n
	return nil
}
