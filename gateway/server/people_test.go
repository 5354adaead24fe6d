package server_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

type profileJSON struct {
	userJSON
	About      string  `json:"about"`
	LastSeenAt *string `json:"last_seen_at"`
	Online     bool    `json:"online"`
}

// Profiles and renames (API.md 1.1, "People"): a rename reaches history,
// every chat list and direct chats' titles through the log; new messages
// carry the new name even from a token issued before it.
func TestProfilesAndRenames(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	direct := h.direct(alice, bob)
	group := h.group(bob, "team", alice, carol)
	old := h.send(alice, direct.ID, "from alice", "d1")
	h.send(alice, group.ID, "from alice too", "g1")

	var p profileJSON
	h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/users/%d", alice.ID), bob.token, nil, &p)
	if p.ID != alice.ID || p.Name != "alice" || p.About != "" || p.Online || p.AvatarURL != nil {
		t.Fatalf("profile %+v", p)
	}
	h.fails(http.StatusNotFound, "not_found", "GET", "/api/v1/users/999999", bob.token, nil)
	h.fails(http.StatusNotFound, "not_found", "GET", "/api/v1/users/x", bob.token, nil)

	h.must(http.StatusOK, "PATCH", "/api/v1/me", alice.token, map[string]string{"about": "likes bikes\nand tea"}, &p)
	if p.About != "likes bikes\nand tea" || p.Name != "alice" {
		t.Fatalf("after about: %+v", p)
	}
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", "/api/v1/me", alice.token, map[string]string{"about": strings.Repeat("x", 501)})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", "/api/v1/me", alice.token, map[string]string{"about": "bad\u202e"})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", "/api/v1/me", alice.token, map[string]string{"name": "no spaces"})
	h.fails(http.StatusConflict, "conflict", "PATCH", "/api/v1/me", alice.token, map[string]string{"name": "BOB"})
	h.fails(http.StatusConflict, "conflict", "PATCH", "/api/v1/me", alice.token, map[string]string{"name": "саrol"}) // Cyrillic с, а

	h.must(http.StatusOK, "PATCH", "/api/v1/me", alice.token, map[string]string{"name": "alicia"}, &p)
	if p.Name != "alicia" {
		t.Fatalf("after rename: %+v", p)
	}
	eventually(t, "the new name in history, lists and the direct chat's title", func() bool {
		m := find(h.history(bob, direct.ID), old.ID)
		d, g := h.summary(bob, direct.ID), h.summary(carol, group.ID)
		return m != nil && m.Author.Name == "alicia" && d.Title == "alicia" &&
			d.LastMessage != nil && d.LastMessage.Author.Name == "alicia" &&
			g.LastMessage != nil && g.LastMessage.Author.Name == "alicia"
	})
	// alice's token still says "alice": her next message says "alicia".
	next := h.send(alice, group.ID, "after the rename", "g2")
	if next.Author.Name != "alicia" {
		t.Fatalf("a message after the rename is by %q", next.Author.Name)
	}
	// The old name is free again.
	h.register("alice")
}

// Blocks are two-way for direct chats; privacy hides last seen and refuses
// new direct chats.
func TestBlocksAndPrivacy(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	d := h.direct(alice, bob)
	h.send(bob, d.ID, "hi", "b1")

	h.must(http.StatusNoContent, "PUT", fmt.Sprintf("/api/v1/me/blocks/%d", bob.ID), alice.token, nil, nil)
	h.must(http.StatusNoContent, "PUT", fmt.Sprintf("/api/v1/me/blocks/%d", bob.ID), alice.token, nil, nil) // again: no change
	h.fails(http.StatusNotFound, "not_found", "PUT", "/api/v1/me/blocks/999999", alice.token, nil)
	h.fails(http.StatusBadRequest, "invalid_argument", "PUT", fmt.Sprintf("/api/v1/me/blocks/%d", alice.ID), alice.token, nil)
	var list struct {
		Users []userJSON `json:"users"`
	}
	h.must(http.StatusOK, "GET", "/api/v1/me/blocks", alice.token, nil, &list)
	if len(list.Users) != 1 || list.Users[0].ID != bob.ID {
		t.Fatalf("blocks: %+v", list.Users)
	}
	// Neither may write in their direct chat, nor ask for it again.
	for _, c := range []client{alice, bob} {
		h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(d.ID, "/messages"), c.token, map[string]any{"text": "x", "client_id": "x" + c.Name})
	}
	h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/chats", bob.token, map[string]any{"member_ids": []int64{alice.ID}})
	// Groups are not affected.
	g := h.group(carol, "g", alice, bob)
	h.send(bob, g.ID, "in a group", "g1")
	// bob sees no last seen of alice.
	var p profileJSON
	h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/users/%d", alice.ID), bob.token, nil, &p)
	if p.LastSeenAt != nil || p.Online {
		t.Fatalf("a blocked user sees %+v", p)
	}
	h.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/v1/me/blocks/%d", bob.ID), alice.token, nil, nil)
	h.send(bob, d.ID, "again", "b2")

	// direct_messages: nobody refuses new direct chats; existing ones stay.
	var priv struct {
		LastSeen       string `json:"last_seen"`
		DirectMessages string `json:"direct_messages"`
	}
	h.must(http.StatusOK, "GET", "/api/v1/me/privacy", alice.token, nil, &priv)
	if priv.LastSeen != "everyone" || priv.DirectMessages != "everyone" {
		t.Fatalf("default privacy %+v", priv)
	}
	h.must(http.StatusOK, "PATCH", "/api/v1/me/privacy", alice.token, map[string]string{"direct_messages": "nobody"}, &priv)
	if priv.DirectMessages != "nobody" || priv.LastSeen != "everyone" {
		t.Fatalf("privacy %+v", priv)
	}
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", "/api/v1/me/privacy", alice.token, map[string]string{"last_seen": "friends"})
	h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/chats", carol.token, map[string]any{"member_ids": []int64{alice.ID}})
	h.direct(bob, alice) // existing: still there
	h.send(bob, d.ID, "still", "b3")
}

func pngOf(t *testing.T, w, h int, alpha uint8) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{R: uint8(x), G: uint8(y), B: 200, A: alpha})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Avatars: decoded, resized, re-encoded, served forever-cacheable under a
// key that changes with the picture, and shown wherever the user is.
func TestAvatars(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	d := h.direct(alice, bob)
	h.send(alice, d.ID, "hi", "a1")

	put := func(ct string, body []byte) response {
		return h.doRaw("PUT", "/api/v1/me/avatar", alice.token, ct, body)
	}
	// A picture 1000×600, opaque: stored as JPEG at most 512 wide.
	r := put("image/png", pngOf(t, 1000, 600, 255))
	if r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var p profileJSON
	r.decode(t, &p)
	if p.AvatarURL == nil || !strings.HasPrefix(*p.AvatarURL, "/api/v1/avatars/") {
		t.Fatalf("profile after upload: %+v", p)
	}
	img := h.doRaw("GET", *p.AvatarURL, "", "", nil) // no token needed
	if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/jpeg" ||
		!strings.Contains(img.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("avatar: %d %v", img.status, img.header)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(img.body))
	if err != nil || format != "jpeg" || cfg.Width != 512 || cfg.Height != 307 {
		t.Fatalf("served avatar: %s %dx%d %v", format, cfg.Width, cfg.Height, err)
	}
	small := h.doRaw("GET", *p.AvatarURL+"?size=64", "", "", nil)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(small.body)); err != nil || cfg.Width != 64 {
		t.Fatalf("small avatar: %+v %v", cfg, err)
	}
	// Everywhere a user appears: members, authors.
	eventually(t, "the avatar in bob's view", func() bool {
		var ch chatJSON
		h.must(http.StatusOK, "GET", chatPath(d.ID, ""), bob.token, nil, &ch)
		var seen bool
		for _, m := range ch.Members {
			seen = seen || (m.User.ID == alice.ID && m.User.AvatarURL != nil && *m.User.AvatarURL == *p.AvatarURL)
		}
		hist := h.history(bob, d.ID)
		return seen && len(hist) == 1 && hist[0].Author.AvatarURL != nil && *hist[0].Author.AvatarURL == *p.AvatarURL
	})
	// A transparent picture stays PNG; a new picture, a new key.
	r = put("image/png", pngOf(t, 40, 40, 128))
	var p2 profileJSON
	r.decode(t, &p2)
	if r.status != http.StatusOK || p2.AvatarURL == nil || *p2.AvatarURL == *p.AvatarURL {
		t.Fatalf("second upload: %d %s", r.status, r.body)
	}
	if img := h.doRaw("GET", *p2.AvatarURL, "", "", nil); img.header.Get("Content-Type") != "image/png" {
		t.Fatalf("transparent avatar served as %s", img.header.Get("Content-Type"))
	}

	// Refused: another type, a body that is not the type it says, a bomb.
	h.failsRaw(http.StatusBadRequest, "invalid_argument", "PUT", "/api/v1/me/avatar", alice.token, "image/gif", []byte("GIF89a"))
	h.failsRaw(http.StatusBadRequest, "invalid_argument", "PUT", "/api/v1/me/avatar", alice.token, "image/jpeg", pngOf(t, 10, 10, 255))
	h.failsRaw(http.StatusBadRequest, "invalid_argument", "PUT", "/api/v1/me/avatar", alice.token, "image/png", pngHeaderClaiming(t, 50000, 50000))
	h.failsRaw(http.StatusRequestEntityTooLarge, "payload_too_large", "PUT", "/api/v1/me/avatar", alice.token, "image/png", make([]byte, 5<<20+1))
	// Other bodies keep their 64 KiB limit.
	h.failsRaw(http.StatusRequestEntityTooLarge, "payload_too_large", "PATCH", "/api/v1/me", alice.token, "application/json", make([]byte, 65<<10))

	h.must(http.StatusOK, "DELETE", "/api/v1/me/avatar", alice.token, nil, &p)
	if p.AvatarURL != nil {
		t.Fatalf("after delete: %+v", p)
	}
	if img := h.doRaw("GET", *p2.AvatarURL, "", "", nil); img.status != http.StatusNotFound {
		t.Fatalf("a deleted avatar is served: %d", img.status)
	}
}

// pngHeaderClaiming is the start of a PNG whose header claims w×h pixels:
// enough for DecodeConfig, which must refuse it before any decoding.
func pngHeaderClaiming(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR's width and height are bytes 16..23; its CRC is not checked by DecodeConfig.
	for i, v := range []int{w, h} {
		b[16+4*i], b[17+4*i], b[18+4*i], b[19+4*i] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	return b
}
