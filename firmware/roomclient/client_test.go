package roomclient

import (
	"errors"
	"fmt"
	"testing"
)

func TestHostPort(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:9443", "127.0.0.1:9443", true},
		{"127.0.0.1:0", "127.0.0.1:8443", true}, // port 0 means the standard port
		{"127.0.0.1", "127.0.0.1:8443", true},
		{"server-a.room:0", "server-a.room:8443", true},
		{"[::1]:0", "[::1]:8443", true},
		{":8443", "", false},
		{"host:http", "", false},
		{"host:70000", "", false},
		{"a:b:c", "", false},
	}
	for _, c := range cases {
		got, err := HostPort(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("HostPort(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestTransportAndSentinels(t *testing.T) {
	cases := []struct {
		err       error
		transport bool
		is        error
	}{
		{nil, false, nil},
		{fmt.Errorf("dial: %w", errors.New("connection refused")), true, nil},
		{&StatusError{Code: 503, Message: "busy"}, true, nil},
		{&StatusError{Code: 401, kind: ErrUnauthorized}, false, ErrUnauthorized},
		{fmt.Errorf("wrapped: %w", &StatusError{Code: 409, kind: ErrConflict}), false, ErrConflict},
	}
	for _, c := range cases {
		if got := Transport(c.err); got != c.transport {
			t.Errorf("Transport(%v) = %v, want %v", c.err, got, c.transport)
		}
		if c.is != nil && !errors.Is(c.err, c.is) {
			t.Errorf("%v is not %v", c.err, c.is)
		}
	}
}
