package obs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// CheckECSLine checks one log line against the ECS fields this package
// writes: the required ones present with their types, every other field one
// ECS defines with the type ECS gives it, a label (a string), or a custom
// field under logchat.*. The tests of the handler and the whole-system test
// of traces (e2e/trace_test.go) hold every line to it, so a call site that
// logs a key the schema does not know fails a test instead of a mapping in
// Elasticsearch.
func CheckECSLine(line []byte) error {
	var f map[string]any
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	for _, k := range []string{"@timestamp", "log.level", "message", "ecs.version", "service.name", "service.version", "event.dataset"} {
		if _, ok := f[k]; !ok {
			return fmt.Errorf("%s missing", k)
		}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for k, v := range f {
		if strings.HasPrefix(k, customNamespace) {
			continue
		}
		if strings.HasPrefix(k, "labels.") {
			if s, ok := v.(string); !ok || s == "" || strings.Contains(k[len("labels."):], ".") {
				bad("%s: a label is a non-empty string under a flat name, got %v", k, v)
			}
			continue
		}
		check, ok := ecsFields[k]
		if !ok {
			bad("%s: not an ECS field this code writes (custom fields go under %s*)", k, customNamespace)
			continue
		}
		if err := check(v); err != nil {
			bad("%s: %v", k, err)
		}
	}
	if ds, svc := f["event.dataset"], f["service.name"]; ds != "logchat."+fmt.Sprint(svc) {
		bad("event.dataset %v is not logchat.<service.name> (%v)", ds, svc)
	}
	if (f["trace.id"] == nil) != (f["span.id"] == nil) {
		bad("trace.id and span.id come together")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

type fieldCheck func(any) error

func str(nonEmpty bool) fieldCheck {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		if nonEmpty && s == "" {
			return fmt.Errorf("empty")
		}
		return nil
	}
}

func oneOf(values ...string) fieldCheck {
	return func(v any) error {
		for _, want := range values {
			if v == want {
				return nil
			}
		}
		return fmt.Errorf("%v is not one of %v", v, values)
	}
}

func matches(re *regexp.Regexp) fieldCheck {
	return func(v any) error {
		if s, ok := v.(string); !ok || !re.MatchString(s) {
			return fmt.Errorf("%v does not match %s", v, re)
		}
		return nil
	}
}

// long is ECS's long: an integer within [lo, hi].
func long(lo, hi int64) fieldCheck {
	return func(v any) error {
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("want a number, got %T", v)
		}
		i, err := n.Int64()
		if err != nil {
			return fmt.Errorf("want an integer, got %s", n)
		}
		if i < lo || i > hi {
			return fmt.Errorf("%d out of [%d, %d]", i, lo, hi)
		}
		return nil
	}
}

const maxLong = 1<<63 - 1

// ecsFields are the ECS fields (version ECSVersion) this code writes, each
// with the type the schema gives it.
var ecsFields = map[string]fieldCheck{
	"@timestamp": func(v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		if _, off := t.Zone(); off != 0 {
			return fmt.Errorf("not UTC: %s", s)
		}
		return nil
	},
	"log.level":                 oneOf("debug", "info", "warn", "error"),
	"message":                   str(true),
	"ecs.version":               oneOf(ECSVersion),
	"service.name":              str(true),
	"service.version":           str(true),
	"event.dataset":             str(true),
	"event.action":              str(true),
	"event.outcome":             oneOf("success", "failure", "unknown"),
	"event.reason":              str(false),
	"event.sequence":            long(1, maxLong),
	"event.duration":            long(0, maxLong), // nanoseconds
	"trace.id":                  matches(hex32),
	"span.id":                   matches(hex16),
	"error.message":             str(true),
	"error.type":                str(true),
	"error.stack_trace":         str(true),
	"http.request.id":           str(true),
	"http.request.method":       str(true),
	"http.response.status_code": long(100, 599),
	"url.path": func(v any) error {
		if s, ok := v.(string); !ok || !strings.HasPrefix(s, "/") {
			return fmt.Errorf("want a path, got %v", v)
		}
		return nil
	},
}
