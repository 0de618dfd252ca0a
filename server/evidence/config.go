package evidence

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"twincap/encoder/segment"
)

// ErrInvalid wraps every configuration and argument error.
var ErrInvalid = errors.New("evidence: invalid")

// Part sizes. S3 refuses parts under 5 MiB (except the last) and over
// 5 GiB, and objects of more than 10,000 parts.
const (
	MinPartSize     int64 = 5 << 20
	MaxPartSize     int64 = 5 << 30
	MaxParts              = 10_000
	DefaultPartSize int64 = 16 << 20
	// DefaultPartsInFlight is how many parts of one object are sent at
	// once: enough to keep hashing on both ends and the network busy
	// together (BenchmarkUpload), few enough to bound memory and sockets.
	DefaultPartsInFlight = 4
	// MaxPartsInFlight bounds PartsInFlight.
	MaxPartsInFlight = 64
	// MaxRetentionDays bounds RetentionDays (100 years).
	MaxRetentionDays = 36_500
)

// Config says where and how this server uploads.
type Config struct {
	// Endpoint is the store's host:port (no scheme); Secure selects https.
	Endpoint  string
	Secure    bool
	Region    string // may be empty for MinIO
	Bucket    string
	AccessKey string
	SecretKey string
	// Prefix starts every key; empty, or ending in "/".
	Prefix string
	// ServerID names this server in keys and markers (segment.ValidateID).
	ServerID string
	// RoomID is the room's ID; it is path-escaped into keys.
	RoomID string
	// RetentionDays puts each object under Object Lock in compliance mode
	// for this many days after its upload; 0 writes without retention. The
	// bucket must have been created with Object Lock.
	RetentionDays int
	// PartSize is the size of each part of a multipart upload; files up to
	// PartSize go in one put. 0 means DefaultPartSize.
	PartSize int64
	// PartsInFlight is how many parts of one object are sent at once; 0
	// means DefaultPartsInFlight, 1 sends them one after another.
	PartsInFlight int
	// Transport carries the requests (custom CAs, FIPS-only TLS); nil uses
	// minio-go's default transport.
	Transport http.RoundTripper
	// Now is the clock for retention dates and marker times; nil: time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartsInFlight == 0 {
		c.PartsInFlight = DefaultPartsInFlight
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem at once, each wrapping ErrInvalid.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil || host == "" || strings.Contains(c.Endpoint, "/") {
		bad("endpoint %q: want host:port without a scheme, e.g. \"evidence.example:443\"", c.Endpoint)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		bad("endpoint %q: port must be 1-65535", c.Endpoint)
	}
	if l := len(c.Bucket); l < 3 || l > 63 || strings.ContainsFunc(c.Bucket, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '.'
	}) {
		bad("bucket %q: want 3-63 of a-z, 0-9, '-' and '.'", c.Bucket)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		bad("access key and secret key are required")
	}
	if c.Prefix != "" && (!strings.HasSuffix(c.Prefix, "/") || strings.HasPrefix(c.Prefix, "/") ||
		strings.Contains(c.Prefix, "//") || strings.ContainsFunc(c.Prefix, func(r rune) bool { return !unicode.IsPrint(r) })) {
		bad("prefix %q: want empty or printable folders ending in '/', e.g. \"twincap/\"", c.Prefix)
	} else {
		for _, p := range strings.Split(strings.TrimSuffix(c.Prefix, "/"), "/") {
			if p == "." || p == ".." {
				bad("prefix %q: '.' and '..' are not folder names", c.Prefix)
				break
			}
		}
	}
	if err := segment.ValidateID(c.ServerID); err != nil {
		bad("server ID %q: want 1-64 of letters, digits, '-' and '_'", c.ServerID)
	}
	if c.RoomID == "" || len(c.RoomID) > 128 || strings.ContainsFunc(c.RoomID, func(r rune) bool { return !unicode.IsPrint(r) }) {
		bad("room ID %q: want 1-128 printable characters", c.RoomID)
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		bad("retention days %d: want 0 (none) to %d", c.RetentionDays, MaxRetentionDays)
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		bad("part size %d: want %d (5 MiB) to %d (5 GiB), or 0 for %d", c.PartSize, MinPartSize, MaxPartSize, DefaultPartSize)
	}
	if c.PartsInFlight < 0 || c.PartsInFlight > MaxPartsInFlight {
		bad("parts in flight %d: want 1 to %d, or 0 for %d", c.PartsInFlight, MaxPartsInFlight, DefaultPartsInFlight)
	}
	return errors.Join(errs...)
}
