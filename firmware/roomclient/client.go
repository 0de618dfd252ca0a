package roomclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"twincap/encoder/segment"
	"twincap/server/settings"
	"twincap/server/wire"
)

// Sentinel errors for what callers act on.
var (
	ErrUnauthorized = errors.New("roomclient: not logged in on this server")
	ErrForbidden    = errors.New("roomclient: not allowed to this user")
	ErrNotFound     = errors.New("roomclient: not found")
	ErrConflict     = errors.New("roomclient: conflict")
	ErrRejected     = errors.New("roomclient: rejected")
	ErrRateLimited  = errors.New("roomclient: too many attempts")
)

// StatusError is a non-2xx reply; it wraps one of the sentinels where one
// applies, so errors.Is works.
type StatusError struct {
	Code    int
	Message string
	kind    error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("roomclient: HTTP %d: %s", e.Code, e.Message)
}

func (e *StatusError) Unwrap() error { return e.kind }

// Transport reports whether err means the server could not be reached or
// answered with a server-side failure, as opposed to refusing the request.
func Transport(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500
	}
	return true
}

// HostPort fills in the standard port for an address given with port 0 or
// none.
func HostPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(addr, strconv.Itoa(wire.DefaultPort)), nil
		}
		return "", fmt.Errorf("roomclient: address %q: %w", addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("roomclient: address %q has no host", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("roomclient: address %q: bad port", addr)
	}
	if p == 0 {
		p = wire.DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Client talks to one room server.
type Client struct {
	base   string
	http   *http.Client
	ticket string
}

// New makes a client for the server at addr (host:port; port 0 means the
// standard port) over TLS with tlsConf (nil: system roots).
func New(addr string, tlsConf *tls.Config) (*Client, error) {
	hp, err := HostPort(addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		// net/http sets up HTTP/2 by appending to the config's NextProtos:
		// each transport needs a config of its own (the box has one per
		// server).
		tlsConf = tlsConf.Clone()
	}
	tr := &http.Transport{
		TLSClientConfig:     tlsConf,
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 2 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{base: "https://" + hp, http: &http.Client{Transport: tr}}, nil
}

// WithTicket returns a copy of c that sends ticket with every request.
func (c *Client) WithTicket(ticket string) *Client {
	d := *c
	d.ticket = ticket
	return &d
}

// Ticket is the ticket c sends.
func (c *Client) Ticket() string { return c.ticket }

// CloseIdle drops kept-alive connections (after a server was seen to fail).
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string, out any) error {
	return c.doTrailer(ctx, method, path, body, hdr, nil, out)
}

// doTrailer is do with request trailers: the body's reader fills them in
// before it reports EOF.
func (c *Client) doTrailer(ctx context.Context, method, path string, body io.Reader, hdr map[string]string, trailer http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("roomclient: %w", err)
	}
	if trailer != nil {
		req.Trailer = trailer
		req.ContentLength = -1
	}
	if c.ticket != "" {
		req.Header.Set(wire.HeaderAuthorization, "Bearer "+c.ticket)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("roomclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("roomclient: %s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Code: resp.StatusCode}
		var we wire.Error
		if json.Unmarshal(data, &we) == nil && we.Error != "" {
			se.Message = we.Error
		} else {
			se.Message = strings.TrimSpace(string(data))
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			se.kind = ErrUnauthorized
		case http.StatusForbidden:
			se.kind = ErrForbidden
		case http.StatusNotFound:
			se.kind = ErrNotFound
		case http.StatusConflict:
			se.kind = ErrConflict
		case http.StatusTooManyRequests:
			se.kind = ErrRateLimited
		default:
			if resp.StatusCode < 500 {
				se.kind = ErrRejected
			}
		}
		// A 409 on stop carries the recording state with what is missing.
		if out != nil && resp.StatusCode == http.StatusConflict {
			_ = json.Unmarshal(data, out)
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("roomclient: %s %s: decode reply: %w", method, path, err)
		}
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	hdr := map[string]string{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("roomclient: %w", err)
		}
		body = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	return c.do(ctx, method, path, body, hdr, out)
}

func recPath(pattern, id string) string { return strings.Replace(pattern, "{id}", id, 1) }

// Health asks the server whether it is up; it needs no ticket.
func (c *Client) Health(ctx context.Context) (wire.Health, error) {
	var h wire.Health
	err := c.doJSON(ctx, http.MethodGet, wire.PathHealth, nil, &h)
	return h, err
}

// Login returns a ticket valid on every server of the room.
func (c *Client) Login(ctx context.Context, user, password string) (wire.LoginReply, error) {
	var r wire.LoginReply
	err := c.doJSON(ctx, http.MethodPost, wire.PathLogin, wire.LoginRequest{Username: user, Password: password}, &r)
	return r, err
}

// Create starts or resumes a recording; the reply's NextSeq says where to
// resume.
func (c *Client) Create(ctx context.Context, req wire.CreateRequest) (wire.RecordingState, error) {
	var st wire.RecordingState
	err := c.doJSON(ctx, http.MethodPost, wire.PathRecordings, req, &st)
	return st, err
}

// Put sends one segment; it returns once the server holds it durably.
func (c *Client) Put(ctx context.Context, id string, s segment.Segment) (wire.SegmentAck, error) {
	var ack wire.SegmentAck
	path := strings.Replace(recPath(wire.PathSegment, id), "{seq}", strconv.FormatUint(s.Seq, 10), 1)
	err := c.do(ctx, http.MethodPut, path, bytes.NewReader(s.Data),
		map[string]string{wire.HeaderChecksum: s.Sum.String(), "Content-Type": "application/octet-stream"}, &ack)
	return ack, err
}

// PutStream uploads segment seq while it is being cut: body delivers its
// chunks as they come, and before it ends (io.EOF) sets the checksum of
// everything it delivered in trailer under wire.HeaderChecksum (make
// trailer with StreamTrailer). The server shows each chunk live as it
// arrives and stores and acknowledges the segment only once the body is
// whole and matches the checksum; a body that fails instead (an error
// other than io.EOF) aborts the upload and nothing is stored.
func (c *Client) PutStream(ctx context.Context, id string, seq uint64, body io.Reader, trailer http.Header) (wire.SegmentAck, error) {
	var ack wire.SegmentAck
	path := strings.Replace(recPath(wire.PathSegment, id), "{seq}", strconv.FormatUint(seq, 10), 1)
	err := c.doTrailer(ctx, http.MethodPut, path, body,
		map[string]string{"Content-Type": "application/octet-stream"}, trailer, &ack)
	return ack, err
}

// StreamTrailer is the trailer PutStream declares: the checksum, filled in
// at the end.
func StreamTrailer() http.Header {
	return http.Header{http.CanonicalHeaderKey(wire.HeaderChecksum): nil}
}

// Gap records segments the server will never get.
func (c *Client) Gap(ctx context.Context, id string, g wire.Gap) (wire.RecordingState, error) {
	var st wire.RecordingState
	err := c.doJSON(ctx, http.MethodPost, recPath(wire.PathGaps, id), g, &st)
	return st, err
}

// Stop finalizes; on ErrConflict the returned state lists what is missing.
func (c *Client) Stop(ctx context.Context, id string, req wire.StopRequest) (wire.RecordingState, error) {
	var st wire.RecordingState
	err := c.doJSON(ctx, http.MethodPost, recPath(wire.PathStop, id), req, &st)
	return st, err
}

// Delete cancels a recording and removes everything the server has of it.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, recPath(wire.PathRecording, id), nil, nil)
}

// ReportUpdate tells the server one step of a remote update on the box,
// for its audit trail.
func (c *Client) ReportUpdate(ctx context.Context, r wire.UpdateReport) error {
	return c.doJSON(ctx, http.MethodPost, wire.PathBoxUpdate, r, nil)
}

// Get is the server's view of one recording.
func (c *Client) Get(ctx context.Context, id string) (wire.RecordingState, error) {
	var st wire.RecordingState
	err := c.doJSON(ctx, http.MethodGet, recPath(wire.PathRecording, id), nil, &st)
	return st, err
}

// List is every recording the server holds.
func (c *Client) List(ctx context.Context) ([]wire.RecordingState, error) {
	var out []wire.RecordingState
	err := c.doJSON(ctx, http.MethodGet, wire.PathRecordings, nil, &out)
	return out, err
}

// Media writes the finalized MP4 to w.
func (c *Client) Media(ctx context.Context, id string, w io.Writer) error {
	return c.fetch(ctx, recPath(wire.PathMedia, id), w)
}

// Metadata is the finalized recording's metadata.
func (c *Client) Metadata(ctx context.Context, id string) (wire.Metadata, error) {
	var m wire.Metadata
	err := c.doJSON(ctx, http.MethodGet, recPath(wire.PathMetadata, id), nil, &m)
	return m, err
}

// Settings is the server's settings (any logged-in user may read them),
// decoded strictly: a document this version does not understand is an
// error, not a guess.
func (c *Client) Settings(ctx context.Context) (settings.Settings, error) {
	var raw json.RawMessage
	if err := c.doJSON(ctx, http.MethodGet, wire.PathSettings, nil, &raw); err != nil {
		return settings.Settings{}, err
	}
	s, err := settings.Decode(raw)
	if err != nil {
		return settings.Settings{}, fmt.Errorf("roomclient: settings: %w", err)
	}
	return s, nil
}

// Audit writes the finalized recording's audit trail (audit.json, an
// audit.Export) to w.
func (c *Client) Audit(ctx context.Context, id string, w io.Writer) error {
	return c.fetch(ctx, recPath(wire.PathAudit, id), w)
}

// fetch streams a large body (the MP4) without the 1 MiB reply cap.
func (c *Client) fetch(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("roomclient: %w", err)
	}
	if c.ticket != "" {
		req.Header.Set(wire.HeaderAuthorization, "Bearer "+c.ticket)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("roomclient: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("roomclient: GET %s: %w", path, err)
	}
	return nil
}
