package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"twincap/internal/durable"
)

// FileVersion is the version of the settings file format.
const FileVersion = 1

const filePerm = 0o640

// file is the settings file: the settings document inside a versioned
// envelope.
type file struct {
	Version  int             `json:"version"`
	Settings json.RawMessage `json:"settings"`
}

// Load reads the settings file at path strictly (as Decode) and validates
// it. A missing file is an error matching fs.ErrNotExist.
func Load(path string) (Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return Settings{}, fmt.Errorf("%w: %s: %v", ErrInvalid, path, cleanJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Settings{}, fmt.Errorf("%w: %s: data after the settings", ErrInvalid, path)
	}
	if f.Version != FileVersion {
		return Settings{}, fmt.Errorf("%w: %s: version %d (this server reads %d)", ErrInvalid, path, f.Version, FileVersion)
	}
	s, err := Decode(f.Settings)
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Save validates s and writes it to path durably: once Save returns nil, the
// settings survive a power cut.
func Save(path string, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	doc, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	b, err := json.MarshalIndent(file{Version: FileVersion, Settings: doc}, "", "  ")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := durable.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := durable.WriteFile(path, append(b, '\n'), filePerm); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// Store is a server's current settings, kept in a file. Its methods may be
// called from any goroutine.
type Store struct {
	path string
	mu   sync.Mutex // serializes changes; guards cur
	cur  Settings
}

// Open loads the settings file at path. When there is none, initial (which
// must be valid) is saved there and used.
func Open(path string, initial Settings) (*Store, error) {
	s, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		s = initial.Clone()
		err = Save(path, s)
	}
	if err != nil {
		return nil, err
	}
	return &Store{path: path, cur: s}, nil
}

// Get returns the current settings (a copy).
func (st *Store) Get() Settings {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cur.Clone()
}

// Apply merges patch into the current settings (see Apply), saves the
// result durably and only then makes it current. On any error the current
// settings stay as they were. It returns the settings before and after;
// Compare(old, new) lists what changed, for the audit trail.
func (st *Store) Apply(patch []byte) (old, new Settings, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.replace(func(cur Settings) (Settings, error) { return Apply(cur, patch) })
}

// Replace makes s the current settings after validating and saving it.
func (st *Store) Replace(s Settings) (old Settings, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	old, _, err = st.replace(func(Settings) (Settings, error) { return s.Clone(), s.Validate() })
	return old, err
}

func (st *Store) replace(change func(Settings) (Settings, error)) (old, new Settings, err error) {
	old = st.cur.Clone()
	new, err = change(st.cur.Clone())
	if err != nil {
		return old, old, err
	}
	if err := Save(st.path, new); err != nil {
		return old, old, err
	}
	st.cur = new
	return old, new.Clone(), nil
}
