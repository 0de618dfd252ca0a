package box

import (
	"testing"

	"twincap/firmware/uplink"
	"twincap/server/wire"
)

func TestIconTables(t *testing.T) {
	cases := []struct {
		mode    wire.Mode
		state   uplink.State
		viewing bool
		want    string
	}{
		{wire.Buffered, uplink.Offline, false, "Server offline"},
		{wire.Buffered, uplink.Connecting, false, "Server offline"},
		{wire.Buffered, uplink.Online, false, "Server online"},
		{wire.Buffered, uplink.Recording, false, "Server recording, viewing from this server"},
		{wire.Buffered, uplink.Recording, true, "Server recording, viewing from this server"},
		{wire.Unbuffered, uplink.Offline, true, "Server offline"},
		{wire.Unbuffered, uplink.Online, false, "Server online"},
		{wire.Unbuffered, uplink.Online, true, "Server online, viewing from this server"},
		{wire.Unbuffered, uplink.Recording, false, "Server online and recording"},
		{wire.Unbuffered, uplink.Recording, true, "Server recording, viewing from this server"},
	}
	for _, c := range cases {
		if got := Icon(c.mode, c.state, c.viewing); got != c.want {
			t.Errorf("Icon(%s, %s, %v) = %q, want %q", c.mode, c.state, c.viewing, got, c.want)
		}
	}
}
