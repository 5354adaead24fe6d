package httpapi

import (
	"net/http"
	"os"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/logchat/shared/obs"
)

func (a *api) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 503 naming every dependency that does not answer, by name
// only: this is the public address, and a dependency's error names hosts,
// ports and drivers. The errors are logged, and the internal listener
// (GATEWAY_INTERNAL_ADDR) shows them.
func (a *api) readyz(c *fiber.Ctx) error {
	failed := a.checks.Run(c.UserContext())
	if len(failed) > 0 {
		a.log.Warn("not ready", "failing", failed)
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(obs.PublicReadyBody(failed))
}

// webClient serves the built single-page client from dir, with index.html for
// every GET path that is no file, so that the client's own routes survive a
// reload. The API and health paths are left alone: an unknown one is a JSON 404.
func webClient(dir string) fiber.Handler {
	return filesystem.New(filesystem.Config{
		Root:         http.Dir(dir),
		Index:        "index.html",
		NotFoundFile: "index.html",
		Next: func(c *fiber.Ctx) bool {
			p := c.Path()
			return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" || p == "/metrics"
		},
	})
}

// WebDirIfPresent returns dir when it is a directory, else "" (no web client).
func WebDirIfPresent(dir string) string {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}
