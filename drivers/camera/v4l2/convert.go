package v4l2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// errBadFrame marks a frame that cannot be converted (short, corrupt);
// such frames are skipped.
var errBadFrame = errors.New("bad frame")

// converter turns the device's frames into new I420 images of w x h.
type converter struct {
	pixel PixelFormat
	w, h  int
}

func (cv converter) convert(data []byte) (*image.YCbCr, error) {
	dst := image.NewYCbCr(image.Rect(0, 0, cv.w, cv.h), image.YCbCrSubsampleRatio420)
	switch cv.pixel {
	case YUYV:
		stride, ok := planeStride(len(data), 2*cv.w, cv.h, 1)
		if !ok {
			return nil, fmt.Errorf("%w: %d bytes is short of YUYV %dx%d", errBadFrame, len(data), cv.w, cv.h)
		}
		yuyvToI420(dst, data, stride)
	case NV12:
		stride, ok := planeStride(len(data), cv.w, cv.h, 1.5)
		if !ok {
			return nil, fmt.Errorf("%w: %d bytes is short of NV12 %dx%d", errBadFrame, len(data), cv.w, cv.h)
		}
		nv12ToI420(dst, data, stride)
	case MJPEG:
		if err := mjpegToI420(dst, data); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("v4l2: cannot convert %v", cv.pixel)
	}
	return dst, nil
}

// planeStride finds the bytes per row of a frame of n bytes whose rows
// hold at least row bytes, with planes rows/h times the luma rows (1 for
// packed formats, 1.5 for NV12). The driver's bytesperline is not
// reachable through the webcam package, so a frame that is larger than
// packed and divides evenly into rows is taken to have padded rows.
func planeStride(n, row, h int, planes float64) (int, bool) {
	rows := int(float64(h) * planes)
	switch {
	case n < row*rows:
		return 0, false
	case n > row*rows && n%rows == 0:
		return n / rows, true
	}
	return row, true
}

// yuyvToI420 converts packed 4:2:2 (Y0 U Y1 V) to 4:2:0, averaging the
// chroma of each pair of rows (rounding up, as (a+b+1)/2). It works on
// eight bytes (four pixels) of both rows at a time.
func yuyvToI420(dst *image.YCbCr, src []byte, stride int) {
	const (
		low7 = 0x7f7f7f7f7f7f7f7f
	)
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	cw := w / 2
	quads := w / 4
	for y := 0; y+1 < h; y += 2 {
		r0 := src[y*stride : y*stride+4*cw]
		r1 := src[(y+1)*stride : (y+1)*stride+4*cw]
		y0 := dst.Y[y*dst.YStride : y*dst.YStride+2*cw]
		y1 := dst.Y[(y+1)*dst.YStride : (y+1)*dst.YStride+2*cw]
		cb := dst.Cb[y/2*dst.CStride : y/2*dst.CStride+cw]
		cr := dst.Cr[y/2*dst.CStride : y/2*dst.CStride+cw]
		r0q, r1q := r0[:8*quads], r1[:8*quads]
		y0q, y1q := y0[:4*quads], y1[:4*quads]
		cbq, crq := cb[:2*quads], cr[:2*quads]
		for q := range quads {
			a := binary.LittleEndian.Uint64(r0q[8*q:])
			b := binary.LittleEndian.Uint64(r1q[8*q:])
			binary.LittleEndian.PutUint32(y0q[4*q:], lumaOf(a))
			binary.LittleEndian.PutUint32(y1q[4*q:], lumaOf(b))
			// Per byte, (a|b) - ((a^b)>>1) is (a+b+1)/2.
			m := (a | b) - ((a^b)>>1)&low7
			c := cbq[2*q : 2*q+2 : 2*q+2]
			d := crq[2*q : 2*q+2 : 2*q+2]
			c[0], d[0], c[1], d[1] = byte(m>>8), byte(m>>24), byte(m>>40), byte(m>>56)
		}
		// A width that is not a multiple of four leaves one pixel pair.
		for x := 2 * quads; x < cw; x++ {
			a := r0[4*x : 4*x+4 : 4*x+4]
			b := r1[4*x : 4*x+4 : 4*x+4]
			y0[2*x], y0[2*x+1] = a[0], a[2]
			y1[2*x], y1[2*x+1] = b[0], b[2]
			cb[x] = uint8((uint16(a[1]) + uint16(b[1]) + 1) >> 1)
			cr[x] = uint8((uint16(a[3]) + uint16(b[3]) + 1) >> 1)
		}
	}
}

// lumaOf gathers bytes 0, 2, 4 and 6 (the Y samples of Y0 U Y1 V Y0 U Y1
// V) into one word.
func lumaOf(v uint64) uint32 {
	return uint32(v&0xff | (v>>8)&0xff00 | (v>>16)&0xff0000 | (v>>24)&0xff000000)
}

// nv12ToI420 copies the luma plane and splits the interleaved chroma.
func nv12ToI420(dst *image.YCbCr, src []byte, stride int) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for y := range h {
		copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src[y*stride:y*stride+w])
	}
	uv := src[h*stride:]
	cw := w / 2
	for y := range h / 2 {
		row := uv[y*stride : y*stride+2*cw]
		cb := dst.Cb[y*dst.CStride : y*dst.CStride+cw]
		cr := dst.Cr[y*dst.CStride : y*dst.CStride+cw]
		for x := range cb {
			c := row[2*x : 2*x+2 : 2*x+2]
			cb[x], cr[x] = c[0], c[1]
		}
	}
}

// JPEG (JFIF) pictures are full range; the encoder, like YUYV cameras,
// works in BT.601 limited range (luma 16-235, chroma 16-240).
var limitedY, limitedC [256]uint8

func init() {
	for i := range 256 {
		limitedY[i] = uint8(16 + (i*219+127)/255)
		limitedC[i] = uint8(16 + (i*224+127)/255)
	}
}

// mjpegToI420 decodes one MJPEG frame into dst, which it must fill
// exactly.
func mjpegToI420(dst *image.YCbCr, data []byte) error {
	data, err := withHuffmanTables(data)
	if err != nil {
		return err
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: mjpeg: %v", errBadFrame, err)
	}
	if got := m.Bounds().Size(); got != dst.Rect.Size() {
		return fmt.Errorf("%w: mjpeg frame is %dx%d, want %dx%d", errBadFrame, got.X, got.Y, dst.Rect.Dx(), dst.Rect.Dy())
	}
	switch m := m.(type) {
	case *image.YCbCr:
		ycbcrToI420(dst, m)
	case *image.Gray:
		grayToI420(dst, m)
	default:
		anyToI420(dst, m)
	}
	return nil
}

// ycbcrToI420 converts a decoded full-range picture of any subsampling to
// limited-range 4:2:0, averaging chroma where the source has more of it.
func ycbcrToI420(dst, src *image.YCbCr) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	b := src.Rect.Min
	for y := range h {
		s := src.Y[src.YOffset(b.X, b.Y+y):]
		s = s[:w]
		d := dst.Y[y*dst.YStride : y*dst.YStride+w]
		for x, v := range s {
			d[x] = limitedY[v]
		}
	}
	cw, ch := w/2, h/2
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		for y := range ch {
			o := src.COffset(b.X, b.Y+2*y)
			scb, scr := src.Cb[o:o+cw], src.Cr[o:o+cw]
			dcb := dst.Cb[y*dst.CStride : y*dst.CStride+cw]
			dcr := dst.Cr[y*dst.CStride : y*dst.CStride+cw]
			for x := range dcb {
				dcb[x], dcr[x] = limitedC[scb[x]], limitedC[scr[x]]
			}
		}
	case image.YCbCrSubsampleRatio422: // what most MJPEG webcams send
		for y := range ch {
			o0, o1 := src.COffset(b.X, b.Y+2*y), src.COffset(b.X, b.Y+2*y+1)
			b0, b1 := src.Cb[o0:o0+cw], src.Cb[o1:o1+cw]
			r0, r1 := src.Cr[o0:o0+cw], src.Cr[o1:o1+cw]
			dcb := dst.Cb[y*dst.CStride : y*dst.CStride+cw]
			dcr := dst.Cr[y*dst.CStride : y*dst.CStride+cw]
			for x := range dcb {
				dcb[x] = limitedC[(uint16(b0[x])+uint16(b1[x])+1)>>1]
				dcr[x] = limitedC[(uint16(r0[x])+uint16(r1[x])+1)>>1]
			}
		}
	default:
		// Each destination chroma sample covers luma (2x, 2y)-(2x+1,
		// 2y+1): average the source chroma at its four corners (the same
		// sample where the source is subsampled too).
		for y := range ch {
			dcb := dst.Cb[y*dst.CStride : y*dst.CStride+cw]
			dcr := dst.Cr[y*dst.CStride : y*dst.CStride+cw]
			for x := range dcb {
				var sb, sr int
				for _, c := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					o := src.COffset(b.X+2*x+c[0], b.Y+2*y+c[1])
					sb += int(src.Cb[o])
					sr += int(src.Cr[o])
				}
				dcb[x] = limitedC[(sb+2)/4]
				dcr[x] = limitedC[(sr+2)/4]
			}
		}
	}
}

func grayToI420(dst *image.YCbCr, src *image.Gray) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	b := src.Rect.Min
	for y := range h {
		s := src.Pix[src.PixOffset(b.X, b.Y+y):]
		s = s[:w]
		d := dst.Y[y*dst.YStride : y*dst.YStride+w]
		for x, v := range s {
			d[x] = limitedY[v]
		}
	}
	for i := range dst.Cb {
		dst.Cb[i], dst.Cr[i] = 128, 128
	}
}

// anyToI420 is the slow path for pictures image/jpeg returns rarely
// (CMYK).
func anyToI420(dst *image.YCbCr, src image.Image) {
	b := src.Bounds().Min
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for y := range h {
		for x := range w {
			c := color.YCbCrModel.Convert(src.At(b.X+x, b.Y+y)).(color.YCbCr)
			dst.Y[y*dst.YStride+x] = limitedY[c.Y]
			if x%2 == 0 && y%2 == 0 {
				dst.Cb[y/2*dst.CStride+x/2] = limitedC[c.Cb]
				dst.Cr[y/2*dst.CStride+x/2] = limitedC[c.Cr]
			}
		}
	}
}

// withHuffmanTables returns data with the JPEG standard's Huffman tables
// (ITU T.81 annex K.3) put in front of the scan when data has none: many
// MJPEG cameras leave them out, as motion JPEG allows, and image/jpeg
// needs them.
func withHuffmanTables(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, fmt.Errorf("%w: mjpeg frame does not start with a JPEG SOI marker", errBadFrame)
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil, fmt.Errorf("%w: mjpeg: no marker at byte %d", errBadFrame, i)
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xC4: // DHT: the frame has its own tables
			return data, nil
		case m == 0xDA: // SOS: the scan starts and there was no DHT
			out := make([]byte, 0, len(data)+len(standardDHT))
			out = append(out, data[:i]...)
			out = append(out, standardDHT...)
			return append(out, data[i:]...), nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			i += 2
			continue
		}
		i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
	}
	return nil, fmt.Errorf("%w: mjpeg frame has no scan", errBadFrame)
}

// standardDHT is one DHT segment holding the four tables of ITU T.81
// annex K.3: for each, its class and id, the number of codes of each
// length 1..16, then the symbols in code order.
var standardDHT = func() []byte {
	tables := []struct {
		classID byte
		counts  [16]byte
		symbols []byte
	}{
		{0x00, [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1}, seq(0, 12)},                            // luminance DC
		{0x01, [16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, seq(0, 12)},                      // chrominance DC
		{0x10, [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}, acLuminance},   // luminance AC
		{0x11, [16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}, acChrominance}, // chrominance AC
	}
	var body []byte
	for _, t := range tables {
		body = append(body, t.classID)
		body = append(body, t.counts[:]...)
		body = append(body, t.symbols...)
	}
	n := len(body) + 2
	return append([]byte{0xFF, 0xC4, byte(n >> 8), byte(n)}, body...)
}()

func seq(from, to byte) []byte {
	var s []byte
	for v := from; v < to; v++ {
		s = append(s, v)
	}
	return s
}

var acLuminance = []byte{
	0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
	0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
	0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
	0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
	0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
	0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
}

var acChrominance = []byte{
	0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
	0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
	0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
	0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
	0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
	0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
	0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
	0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
}
