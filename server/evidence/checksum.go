package evidence

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"

	"twincap/server/wire"
)

// digest is what the uploader knows about one object before sending it:
// its size, its SHA-256 and, for a multipart object, each part's SHA-256.
type digest struct {
	size     int64
	partSize int64
	sum      [sha256.Size]byte
	parts    [][sha256.Size]byte // one per part; a single put has one
	// claimed: sum is what metadata.json says; the parts are hashed as
	// they are sent (hashPart) and the whole is checked (checkWhole)
	// before the upload completes.
	claimed bool
}

// claimedDigest is the digest of a multipart media file whose metadata
// gives its size and SHA-256, before any of it is read; ok is false when
// the metadata does not say or the file is sent in one put.
func claimedDigest(m wire.Metadata, size, partSize int64) (digest, bool) {
	n := partCount(size, partSize)
	sum, err := hex.DecodeString(m.MediaSHA256)
	if n < 2 || n > MaxParts || err != nil || len(sum) != sha256.Size || m.MediaBytes != size {
		return digest{}, false
	}
	d := digest{size: size, partSize: partSize, parts: make([][sha256.Size]byte, n), claimed: true}
	copy(d.sum[:], sum)
	return d, true
}

// hashPart fills in the SHA-256 of part i, read from r.
func (d digest) hashPart(r io.ReaderAt, i int) error {
	off, l := d.part(int64(i))
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, off, l), make([]byte, 256<<10)); err != nil {
		return err
	}
	h.Sum(d.parts[i][:0])
	return nil
}

// checkWhole reads r whole and says whether its SHA-256 is sum.
func (d digest) checkWhole(r io.ReaderAt) error {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, d.size), make([]byte, 1<<20)); err != nil {
		return err
	}
	if got := h.Sum(nil); !bytes.Equal(got, d.sum[:]) {
		return fmt.Errorf("%w: media.mp4 has SHA-256 %x, metadata.json says %x", ErrMismatch, got, d.sum)
	}
	return nil
}

// digestOf reads r (size bytes) and returns the SHA-256 of the whole and
// of each part. The two are computed side by side, each in its own pass
// over r (the page cache serves the second): a single pass through both
// hashes would take twice as long on one core, and hashing is most of the
// time before an upload can start.
func digestOf(r io.ReaderAt, size, partSize int64) (digest, error) {
	n := partCount(size, partSize)
	if n > MaxParts {
		return digest{}, fmt.Errorf("%w: %d bytes make %d parts of %d bytes, more than %d; raise the part size", ErrInvalid, size, n, partSize, MaxParts)
	}
	d := digest{size: size, partSize: partSize, parts: make([][sha256.Size]byte, n)}
	var partsErr error
	var wg sync.WaitGroup
	if n > 1 {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for i := range n {
				off, l := d.part(i)
				part := sha256.New()
				if _, err := io.CopyBuffer(part, io.NewSectionReader(r, off, l), buf); err != nil {
					partsErr = err
					return
				}
				part.Sum(d.parts[i][:0])
			}
		})
	}
	whole := sha256.New()
	_, err := io.CopyBuffer(whole, io.NewSectionReader(r, 0, size), make([]byte, 1<<20))
	wg.Wait()
	if err = cmp.Or(err, partsErr); err != nil {
		return digest{}, err
	}
	whole.Sum(d.sum[:0])
	if n == 1 {
		d.parts[0] = d.sum
	}
	return d, nil
}

// partCount is how many parts an object of size bytes has; an object of
// at most partSize bytes (an empty one too) is sent in one put.
func partCount(size, partSize int64) int64 {
	if size <= partSize {
		return 1
	}
	return (size + partSize - 1) / partSize
}

// part returns the offset and length of part i (0-based).
func (d digest) part(i int64) (off, length int64) {
	off = i * d.partSize
	return off, min(d.partSize, d.size-off)
}

func (d digest) multipart() bool { return len(d.parts) > 1 }

func (d digest) hex() string { return hex.EncodeToString(d.sum[:]) }

func partChecksum(sum [sha256.Size]byte) string { return base64.StdEncoding.EncodeToString(sum[:]) }

// storeChecksum is the x-amz-checksum-sha256 the store reports for the
// object once complete: the object's SHA-256, or for a multipart object the
// SHA-256 of its parts' SHA-256s with "-<parts>" appended.
func (d digest) storeChecksum() string {
	if !d.multipart() {
		return partChecksum(d.sum)
	}
	h := sha256.New()
	for _, p := range d.parts {
		h.Write(p[:])
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(d.parts))
}
