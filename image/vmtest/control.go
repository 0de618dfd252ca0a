//go:build linux

package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"twincap/firmware/box"
)

// BoxClient calls the box's control API (firmware/box/control.go) from
// inside the namespace, through QEMU's host forward.
type BoxClient struct {
	base string
	http *http.Client
}

// NewBoxClient is a client of the control API at addr inside ns.
func NewBoxClient(ns *Netns, addr string) *BoxClient {
	tr := &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}
	return &BoxClient{base: "http://" + addr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *BoxClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("vmtest: box %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("vmtest: box %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("vmtest: box %s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Status is the box's status (the interview, both server icons).
func (c *BoxClient) Status(ctx context.Context) (box.Status, error) {
	var st box.Status
	err := c.call(ctx, http.MethodGet, box.PathStatus, nil, &st)
	return st, err
}

// Login logs the operator in on the room's servers through the box.
func (c *BoxClient) Login(ctx context.Context, user, password string) error {
	return c.call(ctx, http.MethodPost, box.PathLogin, box.LoginRequest{Username: user, Password: password}, nil)
}

// Start starts an interview and returns its recording ID.
func (c *BoxClient) Start(ctx context.Context) (string, error) { return c.action(ctx, box.PathStart) }

// Stop stops the interview and returns its recording ID.
func (c *BoxClient) Stop(ctx context.Context) (string, error) { return c.action(ctx, box.PathStop) }

func (c *BoxClient) action(ctx context.Context, path string) (string, error) {
	var rep box.ActionReply
	err := c.call(ctx, http.MethodPost, path, nil, &rep)
	return rep.RecordingID, err
}

// ServerView is the box's view of server name (zero if it has none).
func ServerView(st box.Status, name string) box.ServerStatus {
	for _, s := range st.Servers {
		if s.Name == name {
			return s
		}
	}
	return box.ServerStatus{}
}
