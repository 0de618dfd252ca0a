package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"twincap/internal/durable"
)

// Ticket errors; all mean 401 to a client.
var (
	ErrBadTicket = errors.New("auth: invalid ticket")
	ErrExpired   = errors.New("auth: ticket expired")
	ErrRevoked   = errors.New("auth: ticket revoked")
)

// RoomKeySize is the size of a room key.
const RoomKeySize = 32

// DefaultTicketTTL is how long a ticket lasts.
const DefaultTicketTTL = 12 * time.Hour

// maxSkew is how far in the future an issue time from the paired server
// may lie (clock difference between the two servers).
const maxSkew = 5 * time.Minute

const maxTicketLen = 2048

// Claims is a ticket's payload.
type Claims struct {
	User    string    `json:"user"`
	Room    string    `json:"room"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	Nonce   string    `json:"nonce"`
}

// NewRoomKey makes a random room key.
func NewRoomKey() ([]byte, error) {
	k := make([]byte, RoomKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("auth: room key: %w", err)
	}
	return k, nil
}

// WriteRoomKey writes key durably, readable by the owner only.
func WriteRoomKey(path string, key []byte) error {
	if len(key) != RoomKeySize {
		return fmt.Errorf("auth: room key must be %d bytes", RoomKeySize)
	}
	if err := durable.WriteFile(path, key, 0o600); err != nil {
		return fmt.Errorf("auth: room key: %w", err)
	}
	return nil
}

// LoadRoomKey reads a room key file: either the 32 raw bytes or their 64
// hex digits (with optional surrounding whitespace).
func LoadRoomKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: room key: %w", err)
	}
	if len(b) == RoomKeySize {
		return b, nil
	}
	if s := strings.TrimSpace(string(b)); len(s) == 2*RoomKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("auth: room key %s: want %d raw bytes or %d hex digits, have %d bytes", path, RoomKeySize, 2*RoomKeySize, len(b))
}

// Tickets issues and checks tickets for one room.
type Tickets struct {
	key  []byte
	peer []byte // peerKey(key)
	room string
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex           // leaf lock: guards revoked
	revoked map[string]time.Time // nonce -> expiry
}

// NewTickets makes a ticket issuer/checker. ttl 0 means DefaultTicketTTL.
func NewTickets(key []byte, room string, ttl time.Duration, now func() time.Time) (*Tickets, error) {
	if len(key) < RoomKeySize {
		return nil, fmt.Errorf("auth: room key is %d bytes, want %d", len(key), RoomKeySize)
	}
	if room == "" {
		return nil, errors.New("auth: no room ID")
	}
	if ttl == 0 {
		ttl = DefaultTicketTTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("auth: ticket TTL %v", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &Tickets{key: append([]byte(nil), key...), peer: peerKey(key), room: room, ttl: ttl, now: now, revoked: map[string]time.Time{}}, nil
}

func (t *Tickets) sign(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue makes a ticket for user.
func (t *Tickets) Issue(user string) (string, Claims, error) {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return "", Claims{}, fmt.Errorf("auth: nonce: %w", err)
	}
	now := t.now().UTC().Truncate(time.Second)
	c := Claims{User: user, Room: t.room, Issued: now, Expires: now.Add(t.ttl), Nonce: base64.RawURLEncoding.EncodeToString(n[:])}
	b, err := json.Marshal(c)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + t.sign(payload), c, nil
}

// Check verifies a ticket's signature, room, times and revocation.
func (t *Tickets) Check(ticket string) (Claims, error) {
	if len(ticket) > maxTicketLen {
		return Claims{}, ErrBadTicket
	}
	payload, sig, ok := strings.Cut(ticket, ".")
	if !ok || payload == "" {
		return Claims{}, ErrBadTicket
	}
	if !hmac.Equal([]byte(sig), []byte(t.sign(payload))) {
		return Claims{}, ErrBadTicket
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrBadTicket
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return Claims{}, ErrBadTicket
	}
	now := t.now()
	switch {
	case c.Room != t.room || c.User == "" || c.Nonce == "":
		return Claims{}, ErrBadTicket
	case c.Issued.After(now.Add(maxSkew)):
		return Claims{}, fmt.Errorf("%w: issued in the future", ErrBadTicket)
	case !now.Before(c.Expires):
		return Claims{}, ErrExpired
	}
	t.mu.Lock()
	_, revoked := t.revoked[c.Nonce]
	t.mu.Unlock()
	if revoked {
		return Claims{}, ErrRevoked
	}
	return c, nil
}

// Revoke makes a valid ticket unusable on this server until it expires.
func (t *Tickets) Revoke(ticket string) error {
	c, err := t.Check(ticket)
	if err != nil {
		return err
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for n, exp := range t.revoked {
		if !now.Before(exp) {
			delete(t.revoked, n)
		}
	}
	t.revoked[c.Nonce] = c.Expires
	return nil
}
