package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"twincap/server/wire"
)

// The states an interview's journal can be in (Meta.State).
const (
	StateRecording = "recording"
	StateStopping  = "stopping"  // the operator pressed stop; Meta.Count is final
	StateCancelled = "cancelled" // what was buffered is to be deleted everywhere
)

// Meta describes the interview a journal belongs to.
type Meta struct {
	RecordingID string
	RoomID      string
	Mode        string
	StartedAt   time.Time
	State       string // "recording", "stopping" (operator pressed stop; Count is final), "cancelled"
	Count       uint64 // final segment count once stopping
	// Epoch is the capture time of media time 0 (encoder.Pipeline.Epoch):
	// what a box restarted mid-interview needs to continue the recording.
	Epoch time.Time
	// Outages are the times the box was down mid-interview.
	Outages []wire.Outage
}

func (m Meta) validate() error {
	switch m.State {
	case "", StateRecording, StateStopping, StateCancelled:
		return nil
	}
	return fmt.Errorf("journal: meta: unknown state %q (want %q, %q or %q)", m.State, StateRecording, StateStopping, StateCancelled)
}

const metaVersion = 1

// metaFile is the on-disk form: explicit names so that renaming a Go field
// never changes the format.
type metaFile struct {
	Version     int           `json:"version"`
	RecordingID string        `json:"recording_id"`
	RoomID      string        `json:"room_id"`
	Mode        string        `json:"mode"`
	StartedAt   time.Time     `json:"started_at"`
	State       string        `json:"state"`
	Count       uint64        `json:"count"`
	Epoch       time.Time     `json:"epoch,omitzero"`
	Outages     []wire.Outage `json:"outages,omitempty"`
}

func encodeMeta(m Meta) ([]byte, error) {
	b, err := json.MarshalIndent(metaFile{
		Version:     metaVersion,
		RecordingID: m.RecordingID,
		RoomID:      m.RoomID,
		Mode:        m.Mode,
		StartedAt:   m.StartedAt,
		State:       m.State,
		Count:       m.Count,
		Epoch:       m.Epoch,
		Outages:     m.Outages,
	}, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readMeta reads dir's meta; a journal without one has the zero Meta.
func readMeta(dir string) (Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if errors.Is(err, fs.ErrNotExist) {
		return Meta{}, nil
	}
	if err != nil {
		return Meta{}, err
	}
	var f metaFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Meta{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, metaName, err)
	}
	if f.Version != metaVersion {
		return Meta{}, fmt.Errorf("%w: %s: unsupported version %d", ErrCorrupt, metaName, f.Version)
	}
	m := Meta{
		RecordingID: f.RecordingID,
		RoomID:      f.RoomID,
		Mode:        f.Mode,
		StartedAt:   f.StartedAt,
		State:       f.State,
		Count:       f.Count,
		Epoch:       f.Epoch,
		Outages:     f.Outages,
	}
	if err := m.validate(); err != nil {
		return Meta{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return m, nil
}

func writeMeta(dir string, m Meta) error {
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	return writeFileDurable(dir, metaName, b)
}
