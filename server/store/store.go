package store

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"twincap/encoder/segment"
	"twincap/internal/durable"
	"twincap/server/wire"
)

// Errors that callers act on (httpapi maps them to status codes).
var (
	ErrNotFound    = errors.New("store: recording not found")
	ErrConflict    = errors.New("store: conflict")
	ErrFinalized   = errors.New("store: recording is finalized")
	ErrIncomplete  = errors.New("store: recording is incomplete")
	ErrBadChecksum = segment.ErrBadChecksum
	ErrInvalid     = errors.New("store: invalid request")
	ErrWrongRoom   = errors.New("store: recording belongs to another room")
	ErrNotFinal    = errors.New("store: recording is not finalized")
)

// MaxSeq is the largest sequence number accepted: segment.Name is ten
// digits wide, and a name that does not parse back would be lost on restart.
const MaxSeq uint64 = 9_999_999_999

// MaxGaps bounds the gap list of one recording.
const MaxGaps = 10_000

// MaxOutages bounds the outage list of one recording.
const MaxOutages = 1000

// MaxMissing bounds the missing list that Stop reports.
const MaxMissing = 1000

const (
	stateFile    = "recording.json"
	segmentsDir  = "segments"
	mediaFile    = "media.mp4"
	metadataFile = "metadata.json"
	recordingDir = "recordings"
	deletedMark  = ".deleted-"
	dirPerm      = 0o750
	filePerm     = 0o640
)

// Config configures a Store.
type Config struct {
	Dir      string // data folder; recordings/ lives below it
	ServerID string // written into metadata
	RoomID   string // recordings of other rooms are refused
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store holds the recordings of one room server.
type Store struct {
	cfg  Config
	root string // <Dir>/recordings
	log  *slog.Logger

	mu   sync.Mutex // guards recs (the map only)
	recs map[string]*recording
	// broken holds IDs whose folder New could not make sense of; they are
	// left for a human and their IDs are not reused.
	broken map[string]bool
}

// diskState is recording.json.
type diskState struct {
	Version     int           `json:"version"`
	ID          string        `json:"id"`
	RoomID      string        `json:"room_id"`
	BoxID       string        `json:"box_id"`
	Mode        wire.Mode     `json:"mode"`
	State       wire.RecState `json:"state"`
	StartedAt   time.Time     `json:"started_at"`
	CreatedAt   time.Time     `json:"created_at"`
	Gaps        []wire.Gap    `json:"gaps"`
	Outages     []wire.Outage `json:"outages,omitempty"`
	Count       uint64        `json:"count,omitempty"`
	StoppedAt   time.Time     `json:"stopped_at,omitzero"`
	FinalizedAt time.Time     `json:"finalized_at,omitzero"`
}

type recording struct {
	mu      sync.Mutex
	deleted bool // set once its folder is gone; holders of a stale pointer retry or fail
	dir     string
	st      diskState
	held    map[uint64]int64 // seq -> size
	bytes   int64
	next    uint64
	// writing holds the segments being written right now, without the
	// lock: puts of different segments overlap on disk, so their fsyncs
	// share journal commits. A put of the same seq waits for the first.
	writing map[uint64]chan struct{}
}

// settle waits, with r.mu held on entry and on return, until no segment
// write is under way. It reports false when the recording was deleted in
// the meantime (r.mu is then released).
func (r *recording) settle() bool {
	for len(r.writing) > 0 {
		var done chan struct{}
		for _, done = range r.writing {
			break
		}
		r.mu.Unlock()
		<-done
		r.mu.Lock()
		if r.deleted {
			r.mu.Unlock()
			return false
		}
	}
	return true
}

// New opens (creating if needed) the store under cfg.Dir and rebuilds its
// state from disk, removing what a crash left half-written.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("store: no data folder")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, root: filepath.Join(cfg.Dir, recordingDir), log: log, recs: map[string]*recording{}, broken: map[string]bool{}}
	if err := durable.MkdirAll(s.root, dirPerm); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(s.root, name)
		switch {
		case strings.HasPrefix(name, deletedMark):
			// A cancel that was renamed away but not fully removed.
			if err := durable.RemoveAll(p); err != nil {
				return fmt.Errorf("store: finish delete: %w", err)
			}
			continue
		case durable.IsTemp(name):
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			continue
		case !e.IsDir() || segment.ValidateID(name) != nil:
			s.log.Warn("store: ignoring unexpected entry", "path", p)
			continue
		}
		rec, err := loadRecording(p, name)
		if errors.Is(err, fs.ErrNotExist) {
			if hasSegments(p) {
				// Not something this package leaves behind: keep the bytes
				// for a human, but do not serve them.
				s.log.Error("store: recording folder has segments but no state; ignored", "id", name)
				s.broken[name] = true
				continue
			}
			// Create made the folder but crashed before recording.json was
			// durable: nothing was ever acknowledged for it.
			s.log.Warn("store: removing recording folder without state", "id", name)
			if err := durable.RemoveAll(p); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		s.recs[name] = rec
	}
	return nil
}

func hasSegments(dir string) bool {
	ents, _ := os.ReadDir(filepath.Join(dir, segmentsDir))
	for _, e := range ents {
		if _, err := segment.ParseName(e.Name()); err == nil {
			return true
		}
	}
	return false
}

func loadRecording(dir, id string) (*recording, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", id, err)
	}
	var st diskState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("store: load %s: %w", id, err)
	}
	if st.ID != id {
		return nil, fmt.Errorf("store: load %s: state names recording %q", id, st.ID)
	}
	rec := &recording{dir: dir, st: st, held: map[uint64]int64{}, writing: map[uint64]chan struct{}{}}
	for _, sub := range []string{dir, filepath.Join(dir, segmentsDir)} {
		ents, err := os.ReadDir(sub)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: load %s: %w", id, err)
		}
		for _, e := range ents {
			if durable.IsTemp(e.Name()) {
				if err := os.Remove(filepath.Join(sub, e.Name())); err != nil {
					return nil, fmt.Errorf("store: load %s: %w", id, err)
				}
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, segmentsDir))
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", id, err)
	}
	for _, e := range ents {
		seq, err := segment.ParseName(e.Name())
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("store: load %s: %w", id, err)
		}
		rec.held[seq] = fi.Size()
		rec.bytes += fi.Size()
	}
	rec.advance()
	return rec, nil
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC() }

// lookup returns the recording locked, or ErrNotFound.
func (s *Store) lookup(id string) (*recording, error) {
	if err := segment.ValidateID(id); err != nil {
		return nil, fmt.Errorf("store: %w: %w", ErrInvalid, err)
	}
	s.mu.Lock()
	rec := s.recs[id]
	s.mu.Unlock()
	if rec == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	rec.mu.Lock()
	if rec.deleted {
		rec.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return rec, nil
}

// covered reports whether a gap covers seq, and where that gap ends.
func (r *recording) covered(seq uint64) (uint64, bool) {
	end, ok := uint64(0), false
	for _, g := range r.st.Gaps {
		if g.From <= seq && seq < g.To && g.To > end {
			end, ok = g.To, true
		}
	}
	return end, ok
}

// advance moves next past everything held or covered; it only grows.
func (r *recording) advance() {
	for {
		if _, ok := r.held[r.next]; ok {
			r.next++
			continue
		}
		if end, ok := r.covered(r.next); ok {
			r.next = end
			continue
		}
		return
	}
}

func (r *recording) state() wire.RecordingState {
	return wire.RecordingState{
		ID:        r.st.ID,
		RoomID:    r.st.RoomID,
		State:     r.st.State,
		Mode:      r.st.Mode,
		StartedAt: r.st.StartedAt,
		NextSeq:   r.next,
		Segments:  uint64(len(r.held)),
		Bytes:     r.bytes,
		Gaps:      slices.Clone(r.st.Gaps),
		Outages:   slices.Clone(r.st.Outages),
	}
}

func (r *recording) save() error {
	b, err := json.MarshalIndent(r.st, "", "  ")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(r.dir, stateFile), append(b, '\n'), filePerm); err != nil {
		return fmt.Errorf("store: save %s: %w", r.st.ID, err)
	}
	return nil
}

// Create starts a recording, or returns the current state of an existing
// one with the same ID (so a box that reconnects resumes from NextSeq).
// created is true when this call made it.
func (s *Store) Create(req wire.CreateRequest) (st wire.RecordingState, created bool, err error) {
	if err := segment.ValidateID(req.ID); err != nil {
		return st, false, fmt.Errorf("store: %w: %w", ErrInvalid, err)
	}
	if _, err := wire.ParseMode(string(req.Mode)); err != nil {
		return st, false, fmt.Errorf("store: %w: %w", ErrInvalid, err)
	}
	if err := validOutages(req.Outages); err != nil {
		return st, false, err
	}
	if req.RoomID != "" && s.cfg.RoomID != "" && req.RoomID != s.cfg.RoomID {
		return st, false, fmt.Errorf("%w: %q, this server is in room %q", ErrWrongRoom, req.RoomID, s.cfg.RoomID)
	}
	for {
		s.mu.Lock()
		if s.broken[req.ID] {
			s.mu.Unlock()
			return st, false, fmt.Errorf("%w: folder of %s is damaged; see the server log", ErrConflict, req.ID)
		}
		rec := s.recs[req.ID]
		if rec == nil {
			rec = &recording{dir: filepath.Join(s.root, req.ID), held: map[uint64]int64{}, writing: map[uint64]chan struct{}{}}
			rec.mu.Lock() // fresh: never blocks, so nesting under s.mu is safe
			s.recs[req.ID] = rec
			s.mu.Unlock()
			st, err := s.create(rec, req)
			if err != nil {
				rec.deleted = true
				rec.mu.Unlock()
				s.mu.Lock()
				if s.recs[req.ID] == rec {
					delete(s.recs, req.ID)
				}
				s.mu.Unlock()
				return st, false, err
			}
			rec.mu.Unlock()
			return st, true, nil
		}
		s.mu.Unlock()
		rec.mu.Lock()
		if rec.deleted { // lost a race with Delete; look again
			rec.mu.Unlock()
			continue
		}
		defer rec.mu.Unlock()
		if (req.BoxID != "" && req.BoxID != rec.st.BoxID) || req.Mode != rec.st.Mode {
			return rec.state(), false, fmt.Errorf("%w: recording %s exists with box %q mode %s", ErrConflict, req.ID, rec.st.BoxID, rec.st.Mode)
		}
		if err := rec.addOutages(req.Outages); err != nil {
			return rec.state(), false, err
		}
		return rec.state(), false, nil
	}
}

func (s *Store) create(rec *recording, req wire.CreateRequest) (wire.RecordingState, error) {
	now := s.now()
	started := req.StartedAt.UTC()
	if started.IsZero() {
		started = now
	}
	room := req.RoomID
	if room == "" {
		room = s.cfg.RoomID
	}
	rec.st = diskState{
		Version:   1,
		ID:        req.ID,
		RoomID:    room,
		BoxID:     req.BoxID,
		Mode:      req.Mode,
		State:     wire.StateRecording,
		StartedAt: started,
		CreatedAt: now,
		Gaps:      []wire.Gap{},
		Outages:   mergeOutages(nil, req.Outages),
	}
	// A folder without recording.json is removed at startup, so the order
	// (folders first, state last) keeps a crash harmless.
	if err := durable.MkdirAll(filepath.Join(rec.dir, segmentsDir), dirPerm); err != nil {
		return wire.RecordingState{}, fmt.Errorf("store: create %s: %w", req.ID, err)
	}
	if err := rec.save(); err != nil {
		return wire.RecordingState{}, err
	}
	return rec.state(), nil
}

func validOutages(os []wire.Outage) error {
	if len(os) > MaxOutages {
		return fmt.Errorf("%w: more than %d outages", ErrInvalid, MaxOutages)
	}
	for _, o := range os {
		switch {
		case o.Seq == 0 || o.Seq > MaxSeq:
			return fmt.Errorf("%w: outage before segment %d", ErrInvalid, o.Seq)
		case o.From.IsZero() || o.To.Before(o.From):
			return fmt.Errorf("%w: outage from %v to %v", ErrInvalid, o.From, o.To)
		case len(o.Reason) > 256:
			return fmt.Errorf("%w: outage reason longer than 256 bytes", ErrInvalid)
		}
	}
	return nil
}

// mergeOutages adds to have the outages of add it lacks, ordered by
// segment; the same outage sent again is kept once.
func mergeOutages(have, add []wire.Outage) []wire.Outage {
	out := slices.Clone(have)
	for _, o := range add {
		o.From, o.To = o.From.UTC(), o.To.UTC()
		if !slices.ContainsFunc(out, func(x wire.Outage) bool { return x.Seq == o.Seq && x.From.Equal(o.From) }) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b wire.Outage) int {
		if a.Seq != b.Seq {
			return cmp.Compare(a.Seq, b.Seq)
		}
		return a.From.Compare(b.From)
	})
	return out
}

// addOutages records outages the recording does not have yet (rec.mu
// held). A finalized recording keeps what it was finalized with.
func (r *recording) addOutages(add []wire.Outage) error {
	merged := mergeOutages(r.st.Outages, add)
	if len(merged) == len(r.st.Outages) || r.st.State == wire.StateFinalized {
		return nil
	}
	if len(merged) > MaxOutages {
		return fmt.Errorf("%w: more than %d outages", ErrInvalid, MaxOutages)
	}
	old := r.st.Outages
	r.st.Outages = merged
	if err := r.save(); err != nil {
		r.st.Outages = old
		return err
	}
	return nil
}

// Get returns one recording's state.
func (s *Store) Get(id string) (wire.RecordingState, error) {
	rec, err := s.lookup(id)
	if err != nil {
		return wire.RecordingState{}, err
	}
	defer rec.mu.Unlock()
	return rec.state(), nil
}

// List returns every recording, ordered by ID.
func (s *Store) List() []wire.RecordingState {
	s.mu.Lock()
	recs := make([]*recording, 0, len(s.recs))
	for _, r := range s.recs {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	out := make([]wire.RecordingState, 0, len(recs))
	for _, r := range recs {
		r.mu.Lock()
		if !r.deleted {
			out = append(out, r.state())
		}
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b wire.RecordingState) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PutSegment stores segment seq of recording id durably and returns the
// ack only once the bytes and their name are on disk. A retry with the same
// bytes is acknowledged again; different bytes for a held seq are a
// conflict. A checksum mismatch writes nothing.
func (s *Store) PutSegment(id string, seq uint64, sum segment.Checksum, body []byte) (wire.SegmentAck, error) {
	if seq > MaxSeq {
		return wire.SegmentAck{}, fmt.Errorf("%w: segment %d above %d", ErrInvalid, seq, MaxSeq)
	}
	if len(body) > segment.MaxSize {
		return wire.SegmentAck{}, fmt.Errorf("%w: segment %d is %d bytes, limit %d", ErrInvalid, seq, len(body), segment.MaxSize)
	}
	verify := func() error {
		if segment.Sum(body) != sum {
			return fmt.Errorf("store: %s segment %d: %w", id, seq, ErrBadChecksum)
		}
		return nil
	}
	for {
		rec, err := s.lookup(id)
		if err != nil {
			return wire.SegmentAck{}, err
		}
		if done, ok := rec.writing[seq]; ok {
			// A retry racing the first attempt: its outcome decides.
			rec.mu.Unlock()
			<-done
			continue
		}
		return s.put(rec, seq, body, verify)
	}
}

// put stores one segment; rec.mu is held on entry and released on return.
// The bytes go to disk without the lock, so that segments sent side by
// side (a backfill) are written and fsynced side by side.
func (s *Store) put(rec *recording, seq uint64, body []byte, verify func() error) (wire.SegmentAck, error) {
	id := rec.st.ID
	if rec.st.State == wire.StateFinalized {
		rec.mu.Unlock()
		return wire.SegmentAck{}, fmt.Errorf("%w: %s", ErrFinalized, id)
	}
	path := filepath.Join(rec.dir, segmentsDir, segment.Name(seq))
	if _, ok := rec.held[seq]; ok {
		next := rec.next
		rec.mu.Unlock()
		if err := verify(); err != nil {
			return wire.SegmentAck{}, err
		}
		// A held segment is never rewritten, and the folder is only
		// renamed away by Delete, after which Open fails: reading
		// without the lock is safe.
		have, err := os.ReadFile(path)
		if err != nil {
			return wire.SegmentAck{}, fmt.Errorf("store: %s segment %d: %w", id, seq, err)
		}
		if !bytes.Equal(have, body) {
			return wire.SegmentAck{}, fmt.Errorf("%w: %s segment %d already held with other bytes", ErrConflict, id, seq)
		}
		return wire.SegmentAck{Seq: seq, NextSeq: next}, nil
	}
	done := make(chan struct{})
	rec.writing[seq] = done
	rec.mu.Unlock()

	// The checksum is verified while the bytes go to disk; a mismatch
	// removes the temporary file, so nothing changes.
	err := durable.WriteFileIf(path, body, filePerm, verify)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	delete(rec.writing, seq)
	close(done)
	if err != nil {
		if errors.Is(err, ErrBadChecksum) {
			return wire.SegmentAck{}, err
		}
		return wire.SegmentAck{}, fmt.Errorf("store: %s segment %d: %w", id, seq, err)
	}
	rec.held[seq] = int64(len(body))
	rec.bytes += int64(len(body))
	rec.advance()
	return wire.SegmentAck{Seq: seq, NextSeq: rec.next}, nil
}

// AddGap records that segments [gap.From, gap.To) will never arrive.
// Adding the same gap twice is harmless.
func (s *Store) AddGap(id string, gap wire.Gap) (wire.RecordingState, error) {
	if gap.From >= gap.To || gap.To > MaxSeq+1 {
		return wire.RecordingState{}, fmt.Errorf("%w: gap [%d,%d)", ErrInvalid, gap.From, gap.To)
	}
	if len(gap.Reason) > 256 {
		return wire.RecordingState{}, fmt.Errorf("%w: gap reason longer than 256 bytes", ErrInvalid)
	}
	rec, err := s.lookup(id)
	if err != nil {
		return wire.RecordingState{}, err
	}
	defer rec.mu.Unlock()
	if rec.st.State == wire.StateFinalized {
		return rec.state(), fmt.Errorf("%w: %s", ErrFinalized, id)
	}
	if slices.Contains(rec.st.Gaps, gap) {
		return rec.state(), nil
	}
	if len(rec.st.Gaps) >= MaxGaps {
		return rec.state(), fmt.Errorf("%w: more than %d gaps", ErrInvalid, MaxGaps)
	}
	old := rec.st.Gaps
	rec.st.Gaps = append(slices.Clone(old), gap)
	if err := rec.save(); err != nil {
		rec.st.Gaps = old
		return rec.state(), err
	}
	rec.advance()
	return rec.state(), nil
}

// missing lists seqs below count that are neither held nor covered, at most
// MaxMissing of them.
func (r *recording) missing(count uint64) []uint64 {
	var out []uint64
	for n := uint64(0); n < count && len(out) < MaxMissing; {
		if _, ok := r.held[n]; ok {
			n++
			continue
		}
		if end, ok := r.covered(n); ok {
			n = end
			continue
		}
		out = append(out, n)
		n++
	}
	return out
}

// Stop finalizes recording id as count segments (0..count-1): every one
// must be held or covered by a gap, else ErrIncomplete and the returned
// state lists what is missing. Stop writes media.mp4 and metadata.json
// durably before the state says finalized, so a crash in between only
// means Stop runs again. Stopping a finalized recording with the same
// count returns its state.
func (s *Store) Stop(id string, count uint64, stoppedAt time.Time) (wire.RecordingState, error) {
	if count == 0 || count > MaxSeq+1 {
		return wire.RecordingState{}, fmt.Errorf("%w: stop count %d", ErrInvalid, count)
	}
	rec, err := s.lookup(id)
	if err != nil {
		return wire.RecordingState{}, err
	}
	if !rec.settle() {
		return wire.RecordingState{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	defer rec.mu.Unlock()
	if rec.st.State == wire.StateFinalized {
		if rec.st.Count != count {
			return rec.state(), fmt.Errorf("%w: %s was finalized with %d segments, not %d", ErrConflict, id, rec.st.Count, count)
		}
		return rec.state(), nil
	}
	if miss := rec.missing(count); len(miss) > 0 {
		st := rec.state()
		st.Missing = miss
		return st, fmt.Errorf("%w: %s lacks %d+ of %d segments", ErrIncomplete, id, len(miss), count)
	}
	if stoppedAt.IsZero() {
		stoppedAt = s.now()
	}
	meta := wire.Metadata{
		ID:        rec.st.ID,
		RoomID:    rec.st.RoomID,
		BoxID:     rec.st.BoxID,
		ServerID:  s.cfg.ServerID,
		Mode:      rec.st.Mode,
		StartedAt: rec.st.StartedAt,
		StoppedAt: stoppedAt.UTC(),
		Segments:  []wire.SegmentMeta{},
		Gaps:      slices.Clone(rec.st.Gaps),
		Outages:   slices.Clone(rec.st.Outages),
	}
	seqs := make([]uint64, 0, len(rec.held))
	for seq := range rec.held {
		if seq < count {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	media := sha256.New()
	err = durable.WriteFrom(filepath.Join(rec.dir, mediaFile), filePerm, func(w io.Writer) error {
		out := io.MultiWriter(w, media)
		for _, seq := range seqs {
			sm, err := appendSegment(out, filepath.Join(rec.dir, segmentsDir, segment.Name(seq)))
			if err != nil {
				return err
			}
			sm.Seq = seq
			meta.Segments = append(meta.Segments, sm)
			meta.MediaBytes += sm.Size
		}
		return nil
	})
	if err != nil {
		return rec.state(), fmt.Errorf("store: stop %s: %w", id, err)
	}
	meta.MediaSHA256 = hex.EncodeToString(media.Sum(nil))
	meta.FinalizedAt = s.now()
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return rec.state(), fmt.Errorf("store: stop %s: %w", id, err)
	}
	if err := durable.WriteFile(filepath.Join(rec.dir, metadataFile), append(b, '\n'), filePerm); err != nil {
		return rec.state(), fmt.Errorf("store: stop %s: %w", id, err)
	}
	old := rec.st
	rec.st.State = wire.StateFinalized
	rec.st.Count = count
	rec.st.StoppedAt = meta.StoppedAt
	rec.st.FinalizedAt = meta.FinalizedAt
	if err := rec.save(); err != nil {
		rec.st = old
		return rec.state(), err
	}
	return rec.state(), nil
}

// appendSegment copies one segment file to w, returning its size and hash.
func appendSegment(w io.Writer, path string) (wire.SegmentMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return wire.SegmentMeta{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), f)
	if err != nil {
		return wire.SegmentMeta{}, err
	}
	return wire.SegmentMeta{Size: n, Checksum: hex.EncodeToString(h.Sum(nil))}, nil
}

// Delete cancels a recording that is not finalized: its folder is renamed
// away (atomic, fsynced) and then removed. A finalized recording is
// evidence and is refused with ErrFinalized.
func (s *Store) Delete(id string) error {
	rec, err := s.lookup(id)
	if err != nil {
		return err
	}
	if !rec.settle() {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	defer rec.mu.Unlock()
	if rec.st.State == wire.StateFinalized {
		return fmt.Errorf("%w: %s cannot be cancelled", ErrFinalized, id)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	gone := filepath.Join(s.root, deletedMark+id+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+hex.EncodeToString(rnd[:]))
	if err := os.Rename(rec.dir, gone); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	rec.deleted = true
	s.mu.Lock()
	if s.recs[id] == rec {
		delete(s.recs, id)
	}
	s.mu.Unlock()
	if err := durable.SyncDir(s.root); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	// From here the recording is gone even if a crash interrupts removal:
	// New finishes removing .deleted-* folders.
	if err := durable.RemoveAll(gone); err != nil {
		return fmt.Errorf("store: delete %s: %w", id, err)
	}
	return nil
}

// OpenMedia opens the finalized MP4 of recording id.
func (s *Store) OpenMedia(id string) (*os.File, error) {
	return s.openFinal(id, mediaFile)
}

// Metadata returns the metadata of finalized recording id.
func (s *Store) Metadata(id string) (wire.Metadata, error) {
	f, err := s.openFinal(id, metadataFile)
	if err != nil {
		return wire.Metadata{}, err
	}
	defer f.Close()
	var m wire.Metadata
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		return wire.Metadata{}, fmt.Errorf("store: metadata %s: %w", id, err)
	}
	return m, nil
}

// AuditFile is a finalized recording's audit trail (an audit.Export as
// JSON), which the server writes beside media.mp4 and metadata.json.
const AuditFile = "audit.json"

// WriteAudit writes the audit trail of finalized recording id durably.
func (s *Store) WriteAudit(id string, data []byte) error {
	rec, err := s.lookup(id)
	if err != nil {
		return err
	}
	defer rec.mu.Unlock()
	if rec.st.State != wire.StateFinalized {
		return fmt.Errorf("%w: %s", ErrNotFinal, id)
	}
	if err := durable.WriteFile(filepath.Join(rec.dir, AuditFile), data, filePerm); err != nil {
		return fmt.Errorf("store: audit %s: %w", id, err)
	}
	return nil
}

// OpenAudit opens the audit trail of finalized recording id; a recording
// whose trail is not written yet is fs.ErrNotExist.
func (s *Store) OpenAudit(id string) (*os.File, error) {
	return s.openFinal(id, AuditFile)
}

// Files names the files of a finalized recording, for the evidence
// uploader.
type Files struct {
	Media, Metadata, Audit string
}

// Files is where finalized recording id's files are.
func (s *Store) Files(id string) (Files, error) {
	rec, err := s.lookup(id)
	if err != nil {
		return Files{}, err
	}
	defer rec.mu.Unlock()
	if rec.st.State != wire.StateFinalized {
		return Files{}, fmt.Errorf("%w: %s", ErrNotFinal, id)
	}
	return Files{
		Media:    filepath.Join(rec.dir, mediaFile),
		Metadata: filepath.Join(rec.dir, metadataFile),
		Audit:    filepath.Join(rec.dir, AuditFile),
	}, nil
}

func (s *Store) openFinal(id, name string) (*os.File, error) {
	rec, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	defer rec.mu.Unlock()
	if rec.st.State != wire.StateFinalized {
		return nil, fmt.Errorf("%w: %s", ErrNotFinal, id)
	}
	// An open file stays readable even if the recording is deleted later.
	f, err := os.Open(filepath.Join(rec.dir, name))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", id, err)
	}
	return f, nil
}
