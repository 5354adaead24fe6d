package httpapi

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/shared/domain"
)

// Error codes of API.md.
const (
	codeInvalid         = "invalid_argument"
	codeUnauthenticated = "unauthenticated"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeConflict        = "conflict"
	codeTooLarge        = "payload_too_large"
	codeRateLimited     = "rate_limited"
	codeUnavailable     = "unavailable"
)

// httpError is an answer decided by the HTTP layer itself (a body that does
// not bind, a bad query parameter, a missing token, a rate limit): status,
// code and message. The application layer's refusals are domain errors.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

func errInvalid(msg string) error { return &httpError{http.StatusBadRequest, codeInvalid, msg} }
func errUnauth(msg string) error {
	return &httpError{http.StatusUnauthorized, codeUnauthenticated, msg}
}

// classify translates any error into the contract's status, code and message.
// Domain errors come from the application layer, the stores and validation
// (with a message for the client when they carry one); *fiber.Error from
// Fiber itself (unknown route, wrong method, body limit). Everything else is
// a dependency that failed (driver, Redis, NATS): 503, safe to retry, and the
// cause stays in the log, not in the answer.
func classify(err error) (status int, code, msg string) {
	var he *httpError
	var ve *domain.ValidationError
	var de *domain.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.As(err, &ve):
		return http.StatusBadRequest, codeInvalid, ve.Msg
	case errors.As(err, &de):
		if status, code, _ := classify(de.Kind); status < 500 {
			return status, code, de.Msg
		}
		return http.StatusServiceUnavailable, codeUnavailable, "a dependency is unavailable; retry later"
	case errors.As(err, &fe):
		return classifyFiber(fe)
	case errors.Is(err, domain.ErrInvalid):
		return http.StatusBadRequest, codeInvalid, "invalid argument"
	case errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, codeNotFound, "not found"
	case errors.Is(err, domain.ErrForbidden):
		return http.StatusForbidden, codeForbidden, "not allowed"
	case errors.Is(err, domain.ErrConflict):
		return http.StatusConflict, codeConflict, "conflict"
	case errors.Is(err, domain.ErrUnauthenticated):
		return http.StatusUnauthorized, codeUnauthenticated, "unauthenticated"
	default:
		// domain.ErrUnavailable, bus.ErrUnavailable, driver, Redis and NATS
		// errors, deadlines: the request may be retried as it is.
		return http.StatusServiceUnavailable, codeUnavailable, "a dependency is unavailable; retry later"
	}
}

func classifyFiber(fe *fiber.Error) (int, string, string) {
	switch s := fe.Code; {
	case s == http.StatusNotFound:
		return s, codeNotFound, "no such endpoint"
	case s == http.StatusMethodNotAllowed:
		// Not a code of its own in API.md: for a client, a method the path
		// does not have is a resource that does not exist.
		return s, codeNotFound, "method not allowed on this endpoint"
	case s == http.StatusRequestEntityTooLarge:
		return s, codeTooLarge, "request body is larger than 64 KiB"
	case s == http.StatusTooManyRequests:
		return s, codeRateLimited, "too many requests"
	case s == http.StatusUnauthorized:
		return s, codeUnauthenticated, fe.Message
	case s == http.StatusForbidden:
		return s, codeForbidden, fe.Message
	case s >= 500 || s == http.StatusRequestTimeout:
		return http.StatusServiceUnavailable, codeUnavailable, "a dependency is unavailable; retry later"
	default:
		return http.StatusBadRequest, codeInvalid, fe.Message
	}
}

// errorHandler is Fiber's ErrorHandler: every non-2xx answer, whether from a
// handler, a middleware or Fiber itself, gets the body of API.md.
func (a *api) errorHandler(c *fiber.Ctx, err error) error {
	status, code, msg := classify(err)
	if status >= 500 {
		a.log.ErrorContext(spanContext(c), "request failed", "request_id", requestID(c),
			"http.request.method", methodLabel(c.Method()), "url.path", c.Path(), "err", err)
	}
	return c.Status(status).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}
