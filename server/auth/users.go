package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"twincap/internal/durable"
)

// Errors that callers act on.
var (
	ErrBadCredentials = errors.New("auth: wrong username or password")
	ErrUserExists     = errors.New("auth: user exists")
	ErrNoUser         = errors.New("auth: no such user")
	ErrBadUsername    = errors.New("auth: bad username")
	ErrWeakPassword   = errors.New("auth: password too short")
)

// DefaultIterations follows OWASP's 2023 advice for PBKDF2-HMAC-SHA256.
const DefaultIterations = 600_000

// MinPasswordLen is the shortest password AddUser and SetPassword accept.
const MinPasswordLen = 8

// maxPasswordLen bounds the work one login can cause.
const maxPasswordLen = 1024

const (
	saltLen = 16
	hashLen = 32
	kdfName = "pbkdf2-sha256"
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateUsername accepts 1-64 of letters, digits and . _ @ -.
func ValidateUsername(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %q (want 1-64 of [A-Za-z0-9._@-], starting with a letter or digit)", ErrBadUsername, name)
	}
	return nil
}

type userRecord struct {
	Name       string    `json:"name"`
	KDF        string    `json:"kdf"`
	Iterations int       `json:"iterations"`
	Salt       []byte    `json:"salt"`
	Hash       []byte    `json:"hash"`
	Changed    time.Time `json:"changed"`
	// Admin lets the user change the server's settings and read its audit
	// trail. Users without the field (made before it existed) are
	// operators.
	Admin bool `json:"admin,omitempty"`
}

type usersFile struct {
	Version int          `json:"version"`
	Users   []userRecord `json:"users"`
}

// Users is the users file. Another process (twincap-server useradd) may
// change the file while a server runs; Verify notices and reloads it.
type Users struct {
	path string
	iter int
	now  func() time.Time

	mu    sync.Mutex // leaf lock: guards users and stamp
	users map[string]userRecord
	stamp fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// OpenUsers reads the users file at path; a missing file is an empty
// list. New passwords are hashed with iterations (0 means
// DefaultIterations); existing hashes keep the count they were made with.
func OpenUsers(path string, iterations int, now func() time.Time) (*Users, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < 1 {
		return nil, fmt.Errorf("auth: iterations %d", iterations)
	}
	if now == nil {
		now = time.Now
	}
	u := &Users{path: path, iter: iterations, now: now}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.load(); err != nil {
		return nil, err
	}
	return u, nil
}

// load reads the file; callers hold mu.
func (u *Users) load() error {
	u.users = map[string]userRecord{}
	u.stamp = fileStamp{}
	fi, err := os.Stat(u.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	b, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	var f usersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("auth: users file %s: %w", u.path, err)
	}
	for _, r := range f.Users {
		if r.KDF != kdfName || r.Iterations < 1 || len(r.Salt) < saltLen || len(r.Hash) != hashLen {
			return fmt.Errorf("auth: users file %s: user %q has an unusable hash", u.path, r.Name)
		}
		u.users[r.Name] = r
	}
	u.stamp = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	return nil
}

// refresh reloads the file if it changed on disk; callers hold mu.
func (u *Users) refresh() error {
	fi, err := os.Stat(u.path)
	var st fileStamp
	if err == nil {
		st = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth: users: %w", err)
	}
	if st == u.stamp {
		return nil
	}
	return u.load()
}

func (u *Users) save() error {
	f := usersFile{Version: 1}
	for _, r := range u.users {
		f.Users = append(f.Users, r)
	}
	slices.SortFunc(f.Users, func(a, b userRecord) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	if err := durable.MkdirAll(filepath.Dir(u.path), 0o750); err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	if err := durable.WriteFile(u.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	fi, err := os.Stat(u.path)
	if err != nil {
		return fmt.Errorf("auth: users: %w", err)
	}
	u.stamp = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	return nil
}

func hashPassword(pass string, salt []byte, iter int) ([]byte, error) {
	h, err := pbkdf2.Key(sha256.New, pass, salt, iter, hashLen)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return h, nil
}

func (u *Users) newRecord(name, pass string) (userRecord, error) {
	if len(pass) < MinPasswordLen {
		return userRecord{}, fmt.Errorf("%w: want at least %d characters", ErrWeakPassword, MinPasswordLen)
	}
	if len(pass) > maxPasswordLen {
		return userRecord{}, fmt.Errorf("auth: password longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return userRecord{}, fmt.Errorf("auth: %w", err)
	}
	h, err := hashPassword(pass, salt, u.iter)
	if err != nil {
		return userRecord{}, err
	}
	return userRecord{Name: name, KDF: kdfName, Iterations: u.iter, Salt: salt, Hash: h, Changed: u.now().UTC()}, nil
}

// AddUser adds an operator; ErrUserExists if the name is taken.
func (u *Users) AddUser(name, pass string) error { return u.Add(name, pass, false) }

// Add adds a user, an administrator when admin is set; ErrUserExists if
// the name is taken.
func (u *Users) Add(name, pass string, admin bool) error {
	if err := ValidateUsername(name); err != nil {
		return err
	}
	rec, err := u.newRecord(name, pass)
	if err != nil {
		return err
	}
	rec.Admin = admin
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(); err != nil {
		return err
	}
	if _, ok := u.users[name]; ok {
		return fmt.Errorf("%w: %s", ErrUserExists, name)
	}
	u.users[name] = rec
	if err := u.save(); err != nil {
		delete(u.users, name)
		return err
	}
	return nil
}

// SetPassword replaces an existing user's password.
func (u *Users) SetPassword(name, pass string) error {
	rec, err := u.newRecord(name, pass)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(); err != nil {
		return err
	}
	old, ok := u.users[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	rec.Admin = old.Admin
	u.users[name] = rec
	if err := u.save(); err != nil {
		u.users[name] = old
		return err
	}
	return nil
}

// SetAdmin makes an existing user an administrator, or an operator again.
func (u *Users) SetAdmin(name string, admin bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(); err != nil {
		return err
	}
	old, ok := u.users[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	rec := old
	rec.Admin = admin
	u.users[name] = rec
	if err := u.save(); err != nil {
		u.users[name] = old
		return err
	}
	return nil
}

// IsAdmin reports whether name is an administrator in this server's users
// file as it is now: a user demoted (or removed) since logging in loses
// the right at once, whatever the ticket says.
func (u *Users) IsAdmin(name string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(); err != nil {
		return false, err
	}
	return u.users[name].Admin, nil
}

// Names lists the users.
func (u *Users) Names() ([]string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(); err != nil {
		return nil, err
	}
	var out []string
	for n := range u.users {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// dummySalt makes an unknown user cost as much as a known one.
var dummySalt = make([]byte, saltLen)

// Verify checks a password in constant time. An unknown user costs the same
// work as a known one and gets the same error.
func (u *Users) Verify(name, pass string) error {
	u.mu.Lock()
	err := u.refresh()
	rec, ok := u.users[name]
	u.mu.Unlock()
	if err != nil {
		return err
	}
	if len(pass) > maxPasswordLen {
		return ErrBadCredentials
	}
	if !ok {
		_, _ = hashPassword(pass, dummySalt, u.iter)
		return ErrBadCredentials
	}
	h, err := hashPassword(pass, rec.Salt, rec.Iterations)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(h, rec.Hash) != 1 {
		return ErrBadCredentials
	}
	return nil
}
