package pair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"twincap/server/settings"
	"twincap/server/wire"
)

// maxPeerUpload bounds the reply of the peer's upload route.
const maxPeerUpload = 4 << 10

// PeerState asks the paired server how far it got uploading a recording
// (wire.PathPeerUpload); it makes the Checker an evidence.Peer. A
// recording the peer does not hold is a zero answer; an unreachable peer,
// or none in the settings, is an error (the evidence rules read both as
// "nothing known").
func (c *Checker) PeerState(ctx context.Context, recordingID string) (settings.PeerUpload, error) {
	addr, ok, err := PeerAddr(c.local())
	if err != nil {
		return settings.PeerUpload{}, err
	}
	if !ok {
		return settings.PeerUpload{}, errors.New("pair: no paired server in the settings")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	path := strings.Replace(wire.PathPeerUpload, "{id}", url.PathEscape(recordingID), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+path, nil)
	if err != nil {
		return settings.PeerUpload{}, fmt.Errorf("pair: %w", err)
	}
	req.Header.Set(wire.HeaderAuthorization, wire.PeerScheme+" "+c.token())
	resp, err := c.client.Do(req)
	if err != nil {
		return settings.PeerUpload{}, fmt.Errorf("pair: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerUpload))
	if err != nil {
		return settings.PeerUpload{}, fmt.Errorf("pair: read %s: %w", addr, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound: // the peer does not hold the recording
		return settings.PeerUpload{}, nil
	default:
		var we wire.Error
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &we) == nil && we.Error != "" {
			msg = we.Error
		}
		return settings.PeerUpload{}, fmt.Errorf("pair: %s: upload of %s: HTTP %d: %s", addr, recordingID, resp.StatusCode, msg)
	}
	var p wire.PeerUpload
	if err := json.Unmarshal(body, &p); err != nil {
		return settings.PeerUpload{}, fmt.Errorf("pair: %s: upload of %s: %w", addr, recordingID, err)
	}
	return settings.PeerUpload{Bytes: p.Bytes, Started: p.Started, Finished: p.Finished}, nil
}

// Uploaded tells the paired server that this server's upload of a
// recording is complete (POST wire.PathPeerUpload), so that it need not
// wait for its next look at the store. It is a courtesy: the store stays
// the truth, and an error changes nothing but the wait.
func (c *Checker) Uploaded(ctx context.Context, recordingID string) error {
	addr, ok, err := PeerAddr(c.local())
	if err != nil || !ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	path := strings.Replace(wire.PathPeerUpload, "{id}", url.PathEscape(recordingID), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	req.Header.Set(wire.HeaderAuthorization, wire.PeerScheme+" "+c.token())
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPeerUpload))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("pair: %s: uploaded %s: HTTP %d", addr, recordingID, resp.StatusCode)
	}
	return nil
}
