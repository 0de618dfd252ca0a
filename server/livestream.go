package server

import (
	"errors"
	"net"
	"net/http"
	"net/netip"

	"twincap/server/httpapi"
	"twincap/server/live"
	"twincap/server/settings"
)

// newLive builds the livestream: a hub fed with every segment the server
// stores (no second upload from the box) and WHEP for browsers, allowed
// to any logged-in user. Viewers are offered the listen address as their
// ICE candidate when it is a specific one (every interface's otherwise).
func (s *Server) newLive() error {
	var hosts []netip.Addr
	if host, _, err := net.SplitHostPort(s.cfg.Listen); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			hosts = append(hosts, ip)
		}
	}
	hub, err := live.New(live.Config{HostIPs: hosts}, s.log)
	if err != nil {
		return err
	}
	var viewer live.ViewerConfig
	cur := s.settings.Get()
	var origins []string
	// The viewer page watches from the preferred server and fails over to
	// the redundant one: both are its servers and allowed origins.
	for _, a := range []settings.Addr{cur.Paired.Preferred, cur.Paired.Redundant} {
		if a == "" {
			continue
		}
		hp, err := a.HostPort()
		if err != nil {
			continue
		}
		viewer.Servers = append(viewer.Servers, "https://"+hp)
		origins = append(origins, "https://"+hp)
	}
	if len(origins) == 0 {
		// The paired servers are not named in the settings, so the other
		// server's origin is unknown. WHEP is authorized by a bearer
		// ticket in a header, never by cookies, so a page of any origin
		// gets nothing without a ticket.
		origins = []string{"*"}
	}
	whep, err := live.NewWHEP(hub, live.WHEPConfig{
		Authorize: func(r *http.Request) error {
			ticket, ok := httpapi.Bearer(r)
			if !ok {
				return errors.New("login required")
			}
			_, err := s.auth.Check(ticket)
			return err
		},
		AllowOrigins: origins,
		Viewer:       viewer,
	}, s.log)
	if err != nil {
		return err
	}
	s.live, s.whep = hub, whep
	return nil
}
