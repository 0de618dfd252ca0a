package box

import (
	"twincap/firmware/uplink"
	"twincap/server/wire"
)

// Icon is the seed's wording of a server icon for a mode, a connection
// state and whether the livestream is viewed from that server. Buffered
// mode has three icons, unbuffered five.
func Icon(mode wire.Mode, s uplink.State, viewing bool) string {
	switch s {
	case uplink.Offline, uplink.Connecting:
		return "Server offline"
	}
	if mode == wire.Buffered {
		if s == uplink.Recording {
			return "Server recording, viewing from this server"
		}
		return "Server online"
	}
	switch {
	case s == uplink.Recording && viewing:
		return "Server recording, viewing from this server"
	case s == uplink.Recording:
		return "Server online and recording"
	case viewing:
		return "Server online, viewing from this server"
	}
	return "Server online"
}

// Green reports whether an icon shows a healthy server (two green icons
// mean failover is set up and healthy).
func Green(s uplink.State) bool { return s == uplink.Online || s == uplink.Recording }
