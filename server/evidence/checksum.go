package evidence

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
)

// digest is what the uploader knows about one object before sending it:
// its size, its SHA-256 and, for a multipart object, each part's SHA-256.
type digest struct {
	size     int64
	partSize int64
	sum      [sha256.Size]byte
	parts    [][sha256.Size]byte // one per part; a single put has one
}

// digestOf reads r (size bytes) once, hashing the whole and each part.
func digestOf(r io.ReaderAt, size, partSize int64) (digest, error) {
	n := partCount(size, partSize)
	if n > MaxParts {
		return digest{}, fmt.Errorf("%w: %d bytes make %d parts of %d bytes, more than %d; raise the part size", ErrInvalid, size, n, partSize, MaxParts)
	}
	d := digest{size: size, partSize: partSize, parts: make([][sha256.Size]byte, n)}
	whole := sha256.New()
	for i := range n {
		off, l := d.part(i)
		part := sha256.New()
		if _, err := io.Copy(io.MultiWriter(whole, part), io.NewSectionReader(r, off, l)); err != nil {
			return digest{}, err
		}
		part.Sum(d.parts[i][:0])
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
