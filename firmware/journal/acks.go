package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// The ack log is append-only: each SetAcked that moves a position appends
// one record and fsyncs (one fsync, no rename, cheap enough at a few per
// second). When the log grows past ackCompactAt, or after a failed write
// left its tail in doubt, the next SetAcked rewrites it whole with one
// record per server (tmp + fsync + rename + fsync of the folder).
//
// Record: crc u32 (CRC-32C of the rest) | kind u8 (1) | name length u16 |
// next u64 | server name.
//
// At Open the log is read up to the first record that does not check and
// cut there. Losing an ack costs only a resend (servers accept retries
// idempotently), so unlike the segment log a damaged ack log is never
// refused.
const (
	ackKind       = 1
	ackHeaderSize = 4 + 1 + 2 + 8
	ackCompactAt  = 64 << 10
	maxServerName = 1024
)

func appendAck(dst []byte, server string, next uint64) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, ackKind)
	dst = le.AppendUint16(dst, uint16(len(server)))
	dst = le.AppendUint64(dst, next)
	dst = append(dst, server...)
	le.PutUint32(dst[start:], crc(dst[start+4:]))
	return dst
}

// decodeAcks reads ack records from b into a map, keeping the highest
// position per server, and reports how many leading bytes were good.
func decodeAcks(b []byte) (map[string]uint64, int) {
	acks := make(map[string]uint64)
	off := 0
	for len(b)-off >= ackHeaderSize {
		r := b[off:]
		n := ackHeaderSize + int(le.Uint16(r[5:]))
		if r[4] != ackKind || len(r) < n || le.Uint32(r) != crc(r[4:n]) {
			break
		}
		server, next := string(r[ackHeaderSize:n]), le.Uint64(r[7:])
		acks[server] = max(acks[server], next)
		off += n
	}
	return acks, off
}

func encodeAcks(acks map[string]uint64) []byte {
	var b []byte
	for _, s := range slices.Sorted(maps.Keys(acks)) {
		b = appendAck(b, s, acks[s])
	}
	return b
}

// openAcks loads (and if need be repairs) the ack log of dir.
func openAcks(dir string) (*os.File, map[string]uint64, int64, error) {
	path := filepath.Join(dir, ackName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeFileDurable(dir, ackName, nil); err != nil {
			return nil, nil, 0, err
		}
	} else if err != nil {
		return nil, nil, 0, err
	}
	acks, good := decodeAcks(b)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, 0, err
	}
	if good < len(b) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, 0, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, 0, err
		}
	}
	return f, acks, int64(good), nil
}

// SetAcked records durably that server holds segments 0..next-1. Positions
// only move forward: a value at or below the current one is ignored. A
// position beyond Next is refused, since a server cannot hold a segment the
// journal has never had.
func (j *Journal) SetAcked(server string, next uint64) error {
	if server == "" || len(server) > maxServerName {
		return fmt.Errorf("journal: ack: server name must be 1 to %d bytes", maxServerName)
	}
	j.ackMu.Lock()
	defer j.ackMu.Unlock()
	j.mu.Lock()
	closed, cur, held := j.closed, j.acks[server], uint64(len(j.index))
	j.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("%w: ack %s", ErrClosed, server)
	case next <= cur:
		return nil
	case next > held:
		return fmt.Errorf("journal: ack %s: position %d beyond the %d segments held", server, next, held)
	}
	rec := appendAck(nil, server, next)
	if j.ackDirty || j.ackSize+int64(len(rec)) > ackCompactAt {
		if err := j.compactAcks(server, next); err != nil {
			return fmt.Errorf("journal: ack %s: %w", server, err)
		}
	} else {
		if _, err := j.ackLog.WriteAt(rec, j.ackSize); err != nil {
			j.ackDirty = true
			return fmt.Errorf("journal: ack %s: %w", server, closedErr(err))
		}
		if err := j.ackLog.Sync(); err != nil {
			j.ackDirty = true
			return fmt.Errorf("journal: ack %s: %w", server, closedErr(err))
		}
		j.ackSize += int64(len(rec))
	}
	j.mu.Lock()
	j.acks[server] = next
	j.mu.Unlock()
	return nil
}

// compactAcks rewrites the ack log whole, with server moved to next.
// Called with ackMu held.
func (j *Journal) compactAcks(server string, next uint64) error {
	j.mu.Lock()
	acks := make(map[string]uint64, len(j.acks)+1)
	for s, n := range j.acks {
		acks[s] = n
	}
	j.mu.Unlock()
	acks[server] = next
	b := encodeAcks(acks)
	if err := writeFileDurable(j.dir, ackName, b); err != nil {
		j.ackDirty = true
		return err
	}
	// The new position is durable now; a failure to reopen only means the
	// next SetAcked rewrites the log again instead of appending.
	f, err := os.OpenFile(filepath.Join(j.dir, ackName), os.O_RDWR, 0)
	if err != nil {
		j.ackDirty = true
		return nil
	}
	j.ackLog.Close()
	j.ackLog, j.ackSize, j.ackDirty = f, int64(len(b)), false
	return nil
}

// Acked is the position last recorded for server: it holds 0..Acked-1.
func (j *Journal) Acked(server string) uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.acks[server]
}
