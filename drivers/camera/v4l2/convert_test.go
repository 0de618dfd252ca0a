package v4l2

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// Test picture: distinct values everywhere so a misplaced byte shows.
func lumaAt(x, y int) uint8 { return uint8(16 + (x*3+y*7)%220) }
func cbAt(x, y int) uint8   { return uint8(20 + (x*5+y*11)%200) } // x, y in chroma samples of a 4:2:2 row
func crAt(x, y int) uint8   { return uint8(30 + (x*13+y*3)%200) }

// makeYUYV builds a YUYV frame of w x h with rows of stride bytes.
func makeYUYV(w, h, stride int) []byte {
	b := make([]byte, stride*h)
	for y := range h {
		for x := 0; x < w; x += 2 {
			o := y*stride + 2*x
			b[o], b[o+1], b[o+2], b[o+3] = lumaAt(x, y), cbAt(x/2, y), lumaAt(x+1, y), crAt(x/2, y)
		}
	}
	return b
}

// makeNV12 builds an NV12 frame whose chroma is the 4:2:0 average the
// YUYV frame converts to, so both must give the same picture.
func makeNV12(w, h, stride int) []byte {
	b := make([]byte, stride*h*3/2)
	for y := range h {
		for x := range w {
			b[y*stride+x] = lumaAt(x, y)
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			o := h*stride + y*stride + 2*x
			b[o], b[o+1] = avg(cbAt(x, 2*y), cbAt(x, 2*y+1)), avg(crAt(x, 2*y), crAt(x, 2*y+1))
		}
	}
	return b
}

func avg(a, b uint8) uint8 { return uint8((int(a) + int(b) + 1) / 2) }

// checkPicture compares img with the test picture, converted to 4:2:0.
func checkPicture(t *testing.T, img *image.YCbCr, w, h int) {
	t.Helper()
	if img.Rect != image.Rect(0, 0, w, h) || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		t.Fatalf("image %v %v, want %dx%d 4:2:0", img.Rect, img.SubsampleRatio, w, h)
	}
	for y := range h {
		for x := range w {
			if got, want := img.Y[img.YOffset(x, y)], lumaAt(x, y); got != want {
				t.Fatalf("Y(%d,%d) = %d, want %d", x, y, got, want)
			}
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			o := img.COffset(2*x, 2*y)
			if got, want := img.Cb[o], avg(cbAt(x, 2*y), cbAt(x, 2*y+1)); got != want {
				t.Fatalf("Cb(%d,%d) = %d, want %d", x, y, got, want)
			}
			if got, want := img.Cr[o], avg(crAt(x, 2*y), crAt(x, 2*y+1)); got != want {
				t.Fatalf("Cr(%d,%d) = %d, want %d", x, y, got, want)
			}
		}
	}
}

func TestConvertRaw(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pixel PixelFormat
		w, h  int
		data  []byte
		bad   bool
	}{
		{"YUYV packed", YUYV, 64, 48, makeYUYV(64, 48, 128), false},
		{"YUYV width not a multiple of 4", YUYV, 66, 4, makeYUYV(66, 4, 132), false},
		{"YUYV padded rows", YUYV, 64, 48, makeYUYV(64, 48, 160), false},
		{"YUYV 720p", YUYV, 1280, 720, makeYUYV(1280, 720, 2560), false},
		{"YUYV trailing bytes", YUYV, 64, 48, append(makeYUYV(64, 48, 128), 1, 2, 3), false},
		{"YUYV short", YUYV, 64, 48, makeYUYV(64, 48, 128)[:128*47], true},
		{"YUYV empty", YUYV, 64, 48, nil, true},
		{"NV12 packed", NV12, 64, 48, makeNV12(64, 48, 64), false},
		{"NV12 padded rows", NV12, 64, 48, makeNV12(64, 48, 96), false},
		{"NV12 short", NV12, 64, 48, makeNV12(64, 48, 64)[:64*48], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := converter{tc.pixel, tc.w, tc.h}.convert(tc.data)
			if tc.bad {
				if !errors.Is(err, errBadFrame) {
					t.Fatalf("convert = %v, want errBadFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPicture(t, img, tc.w, tc.h)
		})
	}
}

// fullRangePicture is the test picture as a full-range 4:2:0 image, what a
// camera's JPEG encoder starts from.
func fullRangePicture(w, h int, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	for y := range h {
		for x := range w {
			img.Y[img.YOffset(x, y)] = lumaAt(x, y)
			o := img.COffset(x, y)
			img.Cb[o], img.Cr[o] = cbAt(x/2, y), crAt(x/2, y)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stripDHT removes the Huffman table segments, as many MJPEG cameras
// send frames.
func stripDHT(t *testing.T, data []byte) []byte {
	t.Helper()
	out := append([]byte(nil), data[:2]...)
	i := 2
	for {
		m := data[i+1]
		n := int(data[i+2])<<8 | int(data[i+3])
		if m == 0xDA {
			return append(out, data[i:]...)
		}
		if m != 0xC4 {
			out = append(out, data[i:i+2+n]...)
		}
		i += 2 + n
	}
}

func TestMJPEG(t *testing.T) {
	const w, h = 64, 48
	full := fullRangePicture(w, h, image.YCbCrSubsampleRatio420)
	withTables := encodeJPEG(t, full)
	without := stripDHT(t, withTables)
	if bytes.Contains(without, []byte{0xFF, 0xC4}) || len(without) >= len(withTables) {
		t.Fatal("stripDHT left the tables in")
	}
	if _, err := jpeg.Decode(bytes.NewReader(without)); err == nil {
		t.Fatal("image/jpeg decodes a frame without Huffman tables; the fix-up is not needed")
	}
	a, err := converter{MJPEG, w, h}.convert(withTables)
	if err != nil {
		t.Fatal(err)
	}
	b, err := converter{MJPEG, w, h}.convert(without)
	if err != nil {
		t.Fatalf("frame without Huffman tables: %v", err)
	}
	if !bytes.Equal(a.Y, b.Y) || !bytes.Equal(a.Cb, b.Cb) || !bytes.Equal(a.Cr, b.Cr) {
		t.Fatal("the standard tables decode differently from the encoder's own")
	}
	// The decoded picture is the test picture in limited range, give or
	// take JPEG's losses.
	for y := range h {
		for x := range w {
			want := int(limitedY[lumaAt(x, y)])
			if d := int(a.Y[a.YOffset(x, y)]) - want; d < -12 || d > 12 {
				t.Fatalf("Y(%d,%d) = %d, want about %d", x, y, a.Y[a.YOffset(x, y)], want)
			}
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not a JPEG", []byte("hello, world")},
		{"empty", nil},
		{"truncated", withTables[:len(withTables)/2]},
		{"no scan", withTables[:20]},
		{"wrong size", encodeJPEG(t, fullRangePicture(32, 32, image.YCbCrSubsampleRatio420))},
	} {
		if _, err := (converter{MJPEG, w, h}).convert(tc.data); !errors.Is(err, errBadFrame) {
			t.Errorf("%s: convert = %v, want errBadFrame", tc.name, err)
		}
	}
}

func TestYCbCrToI420(t *testing.T) {
	const w, h = 16, 8
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440,
	} {
		src := fullRangePicture(w, h, ratio)
		// A sub-image, as decoders may hand out, must be read from its
		// own origin.
		big := fullRangePicture(w+6, h+4, ratio)
		dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		ycbcrToI420(dst, src)
		for y := range h {
			for x := range w {
				if got, want := dst.Y[dst.YOffset(x, y)], limitedY[lumaAt(x, y)]; got != want {
					t.Fatalf("%v: Y(%d,%d) = %d, want %d", ratio, x, y, got, want)
				}
			}
		}
		for y := range h / 2 {
			for x := range w / 2 {
				// Average the source's chroma over the 2x2 block.
				var sb, sr int
				for _, c := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					o := src.COffset(2*x+c[0], 2*y+c[1])
					sb += int(src.Cb[o])
					sr += int(src.Cr[o])
				}
				o := dst.COffset(2*x, 2*y)
				if got, want := int(dst.Cb[o]), int(limitedC[(sb+2)/4]); got-want < -1 || got-want > 1 {
					t.Fatalf("%v: Cb(%d,%d) = %d, want %d", ratio, x, y, got, want)
				}
				if got, want := int(dst.Cr[o]), int(limitedC[(sr+2)/4]); got-want < -1 || got-want > 1 {
					t.Fatalf("%v: Cr(%d,%d) = %d, want %d", ratio, x, y, got, want)
				}
			}
		}
		sub := big.SubImage(image.Rect(2, 2, 2+w, 2+h)).(*image.YCbCr)
		dst2 := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		ycbcrToI420(dst2, sub)
		if got, want := dst2.Y[0], limitedY[lumaAt(2, 2)]; got != want {
			t.Fatalf("%v sub-image: Y(0,0) = %d, want %d", ratio, got, want)
		}
	}
}

func TestGrayAndOtherPictures(t *testing.T) {
	const w, h = 8, 4
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 8)
	}
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	grayToI420(dst, g)
	if dst.Y[5] != limitedY[40] || dst.Cb[0] != 128 || dst.Cr[3] != 128 {
		t.Fatalf("gray: Y[5]=%d Cb=%d Cr=%d", dst.Y[5], dst.Cb[0], dst.Cr[3])
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		rgba.Set(i%w, i/w, color.RGBA{255, 0, 0, 255})
	}
	anyToI420(dst, rgba)
	y, cb, cr := color.RGBToYCbCr(255, 0, 0)
	if dst.Y[0] != limitedY[y] || dst.Cb[0] != limitedC[cb] || dst.Cr[0] != limitedC[cr] {
		t.Fatalf("red: %d %d %d, want %d %d %d", dst.Y[0], dst.Cb[0], dst.Cr[0], limitedY[y], limitedC[cb], limitedC[cr])
	}
	if limitedY[0] != 16 || limitedY[255] != 235 || limitedC[0] != 16 || limitedC[128] != 128 || limitedC[255] != 240 {
		t.Fatal("range tables do not map full range onto 16-235 / 16-240")
	}
}

// FuzzConvert feeds any bytes to every converter: a camera's garbage must
// be a skipped frame, never a panic.
func FuzzConvert(f *testing.F) {
	f.Add(uint8(0), makeYUYV(16, 8, 32))
	f.Add(uint8(1), makeNV12(16, 8, 16))
	f.Add(uint8(2), encodeJPEG(f, fullRangePicture(16, 8, image.YCbCrSubsampleRatio420)))
	f.Add(uint8(2), []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := []PixelFormat{YUYV, NV12, MJPEG}[int(which)%3]
		img, err := converter{p, 16, 8}.convert(data)
		if err == nil && img.Rect != image.Rect(0, 0, 16, 8) {
			t.Fatalf("%v: image %v", p, img.Rect)
		}
	})
}

func BenchmarkYUYVToI420At720p(b *testing.B) {
	const w, h = 1280, 720
	src := makeYUYV(w, h, 2*w)
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		yuyvToI420(dst, src, 2*w)
	}
}

func BenchmarkNV12ToI420At720p(b *testing.B) {
	const w, h = 1280, 720
	src := makeNV12(w, h, w)
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		nv12ToI420(dst, src, w)
	}
}

func BenchmarkMJPEGToI420At720p(b *testing.B) {
	const w, h = 1280, 720
	src := encodeJPEG(b, fullRangePicture(w, h, image.YCbCrSubsampleRatio420))
	cv := converter{MJPEG, w, h}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := cv.convert(src); err != nil {
			b.Fatal(err)
		}
	}
}
