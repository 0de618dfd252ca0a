package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"twincap/encoder/segment"
)

// PeerTokenLife is how far from its time a peer token is accepted, either
// way: it covers the clock difference between the two servers and the
// request's journey, and bounds a replay.
const PeerTokenLife = 2 * time.Minute

// peerKey derives the key of peer tokens from the room key, so that a peer
// token never passes as a ticket, nor a ticket as a peer token.
func peerKey(roomKey []byte) []byte {
	m := hmac.New(sha256.New, roomKey)
	m.Write([]byte("twincap-peer-key-v1"))
	return m.Sum(nil)
}

func (t *Tickets) peerMAC(serverID, stamp string) string {
	m := hmac.New(sha256.New, t.peer)
	m.Write([]byte("twincap-peer-v1\x00" + t.room + "\x00" + serverID + "\x00" + stamp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// PeerToken is "<server ID>.<unix seconds>.<mac>": what a server shows the
// paired server to read its settings. Only a holder of the room key can
// make one; it is good for PeerTokenLife either side of its time.
func (t *Tickets) PeerToken(serverID string) string {
	stamp := strconv.FormatInt(t.now().Unix(), 10)
	return serverID + "." + stamp + "." + t.peerMAC(serverID, stamp)
}

// CheckPeer verifies a peer token and returns the server ID it names.
func (t *Tickets) CheckPeer(token string) (string, error) {
	if len(token) > maxTicketLen {
		return "", ErrBadTicket
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || segment.ValidateID(parts[0]) != nil {
		return "", ErrBadTicket
	}
	id, stamp, mac := parts[0], parts[1], parts[2]
	if !hmac.Equal([]byte(mac), []byte(t.peerMAC(id, stamp))) {
		return "", ErrBadTicket
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || strconv.FormatInt(sec, 10) != stamp {
		return "", ErrBadTicket
	}
	if d := t.now().Sub(time.Unix(sec, 0)); d > PeerTokenLife || d < -PeerTokenLife {
		return "", fmt.Errorf("%w: peer token is %v away from this server's clock", ErrExpired, d.Round(time.Second))
	}
	return id, nil
}
