package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// objectAPI is the part of S3 the uploader uses, in the package's own
// types, so that tests can put faults between the uploader and a real
// store. Errors: errNoObject for a missing key or upload, errExists for a
// conditional write that found the key taken.
type objectAPI interface {
	bucketExists(ctx context.Context) (bool, error)
	objectLockEnabled(ctx context.Context) (bool, error)
	stat(ctx context.Context, key string) (objectInfo, error)
	open(ctx context.Context, key string) (io.ReadCloser, error)
	// put writes key in one request, only if it does not exist yet.
	put(ctx context.Context, key string, r io.Reader, size int64, o putOptions) error
	newMultipart(ctx context.Context, key string, o putOptions) (uploadID string, err error)
	// uploads lists the multipart uploads under way for exactly key.
	uploads(ctx context.Context, key string) ([]string, error)
	// putPart sends part n; checksum is its base64 SHA-256, which the
	// store checks before it accepts the part.
	putPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64, checksum string) (part, error)
	parts(ctx context.Context, key, uploadID string) ([]part, error)
	// complete assembles key from parts, only if it does not exist yet.
	complete(ctx context.Context, key, uploadID string, parts []part) error
	abort(ctx context.Context, key, uploadID string) error
	// folders lists the folders directly below prefix (each ends in "/").
	folders(ctx context.Context, prefix string) ([]string, error)
}

var (
	errNoObject = errors.New("evidence: no such object")
	errExists   = errors.New("evidence: object exists")
)

// metaSHA256 is the user metadata that carries an object's hex SHA-256.
const metaSHA256 = "sha256"

type objectInfo struct {
	Size        int64
	SHA256      string // user metadata "sha256"
	Checksum    string // the store's x-amz-checksum-sha256
	VersionID   string
	LockMode    string // "COMPLIANCE", "GOVERNANCE" or ""
	RetainUntil time.Time
}

type putOptions struct {
	SHA256Hex   string // hex SHA-256 of the body (single put)
	Checksum    string // base64 SHA-256 of the body (single put)
	Meta        map[string]string
	ContentType string
	RetainUntil time.Time // zero: no retention
}

type part struct {
	Number   int
	ETag     string
	Size     int64
	Checksum string // base64 SHA-256 of the part
}

// minioAPI is objectAPI over minio-go.
type minioAPI struct {
	core   minio.Core
	bucket string
}

func newMinioAPI(cfg Config) (*minioAPI, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// The queue owns retrying, with its own backoff and count.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: client: %w", err)
	}
	return &minioAPI{core: minio.Core{Client: c}, bucket: cfg.Bucket}, nil
}

// s3Error maps minio-go's error responses to the package's sentinels.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	switch r := minio.ToErrorResponse(err); {
	case r.Code == "NoSuchKey" || r.Code == "NoSuchUpload" || r.Code == "NoSuchVersion":
		return fmt.Errorf("%w: %w", errNoObject, err)
	case r.Code == "PreconditionFailed" || r.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", errExists, err)
	case r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket":
		return fmt.Errorf("%w: %w", errNoObject, err)
	}
	return err
}

func (m *minioAPI) bucketExists(ctx context.Context) (bool, error) {
	return m.core.BucketExists(ctx, m.bucket)
}

func (m *minioAPI) objectLockEnabled(ctx context.Context) (bool, error) {
	enabled, _, _, _, err := m.core.GetObjectLockConfig(ctx, m.bucket)
	if r := minio.ToErrorResponse(err); r.Code == "ObjectLockConfigurationNotFoundError" {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return enabled == "Enabled", nil
}

func (m *minioAPI) stat(ctx context.Context, key string) (objectInfo, error) {
	oi, err := m.core.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return objectInfo{}, s3Error(err)
	}
	info := objectInfo{Size: oi.Size, Checksum: oi.ChecksumSHA256, VersionID: oi.VersionID}
	for k, v := range oi.UserMetadata {
		if strings.EqualFold(k, metaSHA256) {
			info.SHA256 = v
		}
	}
	if h := oi.Metadata.Get("X-Amz-Object-Lock-Mode"); h != "" {
		info.LockMode = h
	}
	if h := oi.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"); h != "" {
		if t, err := time.Parse(time.RFC3339, h); err == nil {
			info.RetainUntil = t
		}
	}
	return info, nil
}

func (m *minioAPI) open(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, _, _, err := m.core.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(err)
	}
	return rc, nil
}

func (o putOptions) minio() minio.PutObjectOptions {
	meta := map[string]string{}
	for k, v := range o.Meta {
		meta[k] = v
	}
	if o.Checksum != "" {
		meta["X-Amz-Checksum-Sha256"] = o.Checksum
	}
	p := minio.PutObjectOptions{
		UserMetadata: meta,
		ContentType:  o.ContentType,
		// Our own hex SHA-256 signs the body, so the store checks it
		// (rather than minio-go's streaming signature over plain HTTP).
		DisableContentSha256: true,
	}
	if !o.RetainUntil.IsZero() {
		p.Mode = minio.Compliance
		p.RetainUntilDate = o.RetainUntil
	}
	return p
}

func (m *minioAPI) put(ctx context.Context, key string, r io.Reader, size int64, o putOptions) error {
	opts := o.minio()
	opts.SetMatchETagExcept("*")
	_, err := m.core.PutObject(ctx, m.bucket, key, r, size, "", o.SHA256Hex, opts)
	return s3Error(err)
}

func (m *minioAPI) newMultipart(ctx context.Context, key string, o putOptions) (string, error) {
	opts := o.minio()
	opts.UserMetadata["X-Amz-Checksum-Algorithm"] = "SHA256"
	id, err := m.core.NewMultipartUpload(ctx, m.bucket, key, opts)
	return id, s3Error(err)
}

func (m *minioAPI) uploads(ctx context.Context, key string) ([]string, error) {
	var ids []string
	keyMarker, idMarker := "", ""
	for {
		res, err := m.core.ListMultipartUploads(ctx, m.bucket, key, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, s3Error(err)
		}
		for _, u := range res.Uploads {
			if u.Key == key {
				ids = append(ids, u.UploadID)
			}
		}
		if !res.IsTruncated {
			return ids, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

func (m *minioAPI) putPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64, checksum string) (part, error) {
	p, err := m.core.PutObjectPart(ctx, m.bucket, key, uploadID, n, r, size, minio.PutObjectPartOptions{
		// The signature does not cover the body (UNSIGNED-PAYLOAD): the
		// signed x-amz-checksum-sha256 header makes the store hash and
		// check the part, and a signed x-amz-content-sha256 as well would
		// have it hash every byte twice (BenchmarkUpload).
		DisableContentSha256: true,
		CustomHeader:         http.Header{"X-Amz-Checksum-Sha256": []string{checksum}},
	})
	if err != nil {
		return part{}, s3Error(err)
	}
	return part{Number: p.PartNumber, ETag: p.ETag, Size: p.Size, Checksum: p.ChecksumSHA256}, nil
}

func (m *minioAPI) parts(ctx context.Context, key, uploadID string) ([]part, error) {
	var ps []part
	marker := 0
	for {
		res, err := m.core.ListObjectParts(ctx, m.bucket, key, uploadID, marker, 1000)
		if err != nil {
			return nil, s3Error(err)
		}
		for _, p := range res.ObjectParts {
			ps = append(ps, part{Number: p.PartNumber, ETag: p.ETag, Size: p.Size, Checksum: p.ChecksumSHA256})
		}
		if !res.IsTruncated {
			return ps, nil
		}
		marker = res.NextPartNumberMarker
	}
}

func (m *minioAPI) complete(ctx context.Context, key, uploadID string, parts []part) error {
	cps := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cps[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag, ChecksumSHA256: p.Checksum}
	}
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	_, err := m.core.CompleteMultipartUpload(ctx, m.bucket, key, uploadID, cps, opts)
	return s3Error(err)
}

func (m *minioAPI) abort(ctx context.Context, key, uploadID string) error {
	return s3Error(m.core.AbortMultipartUpload(ctx, m.bucket, key, uploadID))
}

func (m *minioAPI) folders(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for o := range m.core.Client.ListObjects(ctx, m.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			return nil, s3Error(o.Err)
		}
		if strings.HasSuffix(o.Key, "/") {
			out = append(out, o.Key)
		}
	}
	return out, nil
}
