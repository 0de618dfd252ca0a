package auth

import (
	"errors"
	"fmt"
	"time"

	"twincap/server/wire"
)

// ErrRateLimited is returned (inside a *RateLimitError) by Login when a
// username+remote pair failed too often.
var ErrRateLimited = errors.New("auth: too many failed logins")

// RateLimitError says how long to wait.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v; retry after %v", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Config configures a Service.
type Config struct {
	UsersFile  string
	RoomID     string
	RoomKey    []byte
	TicketTTL  time.Duration // 0: DefaultTicketTTL
	Iterations int           // for new passwords; 0: DefaultIterations
	// MaxFailures failed logins per FailWindow lock a username+remote pair
	// out until the window has passed. 0: 5 per minute.
	MaxFailures int
	FailWindow  time.Duration
	Now         func() time.Time // nil: time.Now
}

// Service logs users in and checks their tickets.
type Service struct {
	users   *Users
	tickets *Tickets
	limit   *Limiter
}

// New opens the users file and prepares the ticket key.
func New(cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 5
	}
	if cfg.FailWindow == 0 {
		cfg.FailWindow = time.Minute
	}
	users, err := OpenUsers(cfg.UsersFile, cfg.Iterations, cfg.Now)
	if err != nil {
		return nil, err
	}
	tickets, err := NewTickets(cfg.RoomKey, cfg.RoomID, cfg.TicketTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Service{users: users, tickets: tickets, limit: NewLimiter(cfg.MaxFailures, cfg.FailWindow, cfg.Now)}, nil
}

// Users is the users file behind the service.
func (s *Service) Users() *Users { return s.users }

// Login checks a password and issues a ticket valid on every server of
// the room. remote is the client's address (host only).
func (s *Service) Login(user, pass, remote string) (wire.LoginReply, error) {
	key := user + "\x00" + remote
	if wait, ok := s.limit.Allow(key); !ok {
		return wire.LoginReply{}, &RateLimitError{RetryAfter: wait}
	}
	if err := s.users.Verify(user, pass); err != nil {
		if errors.Is(err, ErrBadCredentials) {
			s.limit.Fail(key)
		}
		return wire.LoginReply{}, err
	}
	s.limit.Reset(key)
	t, c, err := s.tickets.Issue(user)
	if err != nil {
		return wire.LoginReply{}, err
	}
	return wire.LoginReply{Ticket: t, User: user, Expires: c.Expires}, nil
}

// Check verifies a ticket.
func (s *Service) Check(ticket string) (Claims, error) { return s.tickets.Check(ticket) }

// IsAdmin reports whether user is an administrator on this server (see
// Users.IsAdmin).
func (s *Service) IsAdmin(user string) (bool, error) { return s.users.IsAdmin(user) }

// PeerToken is a token for this server to show the paired server.
func (s *Service) PeerToken(serverID string) string { return s.tickets.PeerToken(serverID) }

// CheckPeer verifies a peer token and returns the server ID it names.
func (s *Service) CheckPeer(token string) (string, error) { return s.tickets.CheckPeer(token) }

// Logout revokes a ticket on this server.
func (s *Service) Logout(ticket string) error { return s.tickets.Revoke(ticket) }
