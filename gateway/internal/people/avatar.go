package people

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"image"
	"image/jpeg"
	"image/png"
	"strings"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP with image.Decode

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

// MaxAvatarBytes is the largest image PUT /me/avatar accepts (413 beyond).
const MaxAvatarBytes = 5 << 20

// MaxAvatarPixels bounds an image's width × height, read from its header
// before anything is decoded: a small file can claim a huge canvas (an
// "image bomb"), and decoding allocates for the canvas, not the file.
const MaxAvatarPixels = 40_000_000

// AvatarSizes are the sizes (the longer side, in pixels, at most) stored of
// every avatar: the profile's, and the small one lists and bubbles use
// (GET /avatars/{key}?size=64).
var AvatarSizes = []int{512, 64}

// formats maps the accepted Content-Types to image.Decode's format names.
var formats = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}

// processAvatar checks, decodes, resizes and re-encodes an uploaded image:
// each of AvatarSizes, PNG when the image has transparency, else JPEG. The
// key is derived from the largest image's bytes, so it changes with the
// picture and the URL can be cached forever.
func processAvatar(contentType string, body []byte) (string, map[int]sqlstore.Avatar, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	want, ok := formats[ct]
	if !ok {
		return "", nil, domain.Invalid("an avatar is image/png, image/jpeg or image/webp")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != want {
		return "", nil, domain.Invalid("the body is not a %s image", want)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxAvatarPixels {
		return "", nil, domain.Invalid("the image is %d×%d: at most %d pixels are accepted", cfg.Width, cfg.Height, MaxAvatarPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		return "", nil, domain.Invalid("the image cannot be decoded: %v", err)
	}
	out := map[int]sqlstore.Avatar{}
	var key string
	for i, size := range AvatarSizes {
		a, err := encode(fit(img, size))
		if err != nil {
			return "", nil, err
		}
		if i == 0 {
			sum := sha256.Sum256(a.Data)
			key = base64.RawURLEncoding.EncodeToString(sum[:24])
		}
		out[size] = a
	}
	return key, out, nil
}

// fit scales img down (never up) to fit in size×size, keeping its shape.
func fit(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size {
		return img
	}
	if w >= h {
		w, h = size, max(1, h*size/w)
	} else {
		w, h = max(1, w*size/h), size
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

func encode(img image.Image) (sqlstore.Avatar, error) {
	var buf bytes.Buffer
	if opaque(img) {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
			return sqlstore.Avatar{}, err
		}
		return sqlstore.Avatar{ContentType: "image/jpeg", Data: buf.Bytes()}, nil
	}
	if err := png.Encode(&buf, img); err != nil {
		return sqlstore.Avatar{}, err
	}
	return sqlstore.Avatar{ContentType: "image/png", Data: buf.Bytes()}, nil
}

func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}
