// Package access says who may do what on the bus: one NATS user per service,
// each allowed the subjects its work needs and nothing else, and the server
// configuration that enforces it.
//
// The permissions are derived from the topology (stream names, partitions,
// consumer names), so they cannot drift from what the code does:
//
//   - gateway: append events (chat.<id>.<kind>, the four kinds only), read
//     single events back (direct get), watch member events as they are
//     appended (plain subscription), and ask whether the streams exist.
//   - persister, cachewarm, notifier, searcher: their own durable consumers only
//     (create/update, info, pull, reset, ack), their dead-letter subject, their
//     keys in the pins bucket.
//   - admin (the `ingest` CLI and provisioning at start-up): everything.
//
// Nobody but the admin may create, update, purge or delete a stream, delete a
// message or touch another service's consumers. Every user receives replies on
// an inbox of its own (bus.InboxPrefix), so no service can read another's.
//
// The JetStream API subjects are nats-server's (server/jetstream_api.go,
// v2.15): $JS.API.INFO, $JS.API.STREAM.INFO.<stream>, $JS.API.DIRECT.GET.<stream>
// [.<subject>], $JS.API.STREAM.MSG.GET.<stream>, $JS.API.CONSUMER.CREATE.<stream>.
// <consumer>.<filter>, $JS.API.CONSUMER.INFO|MSG.NEXT|RESET.<stream>.<consumer>,
// and acknowledgements on $JS.ACK.<stream>.<consumer>.… (the v2 form
// $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.… is allowed as well, so
// that turning on the server's v2 ack format breaks nothing).
package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/event"
)

// The users of the bus.
const (
	Admin   = "admin"
	Gateway = "gateway"
)

// Users is every user the server knows: the admin, the gateway and each
// projection worker (ops.Workers; a worker's name is also the prefix of its
// consumers' names).
func Users() []string { return append([]string{Admin, Gateway}, ops.Workers...) }

// PasswordEnv is the environment variable holding a user's password, for
// nats-server (deploy/nats/auth.conf) and scripts/stack.sh. A process itself
// reads its own as NATS_PASSWORD.
func PasswordEnv(user string) string { return "NATS_" + strings.ToUpper(user) + "_PASSWORD" }

// Permissions are the subjects a user may publish and subscribe to.
type Permissions struct {
	Publish     []string
	Subscribe   []string
	DenyPublish []string // refused even if an allow rule matches
}

// destructive are refused to everyone but the admin, explicitly: the allow
// lists already leave them out, and the deny list keeps them out should an
// allow rule ever be widened to $JS.API.>.
var destructive = []string{
	"$JS.API.STREAM.DELETE.>",
	"$JS.API.STREAM.PURGE.>",
	"$JS.API.STREAM.MSG.DELETE.>",
	"$JS.API.STREAM.UPDATE.>",
	"$JS.API.STREAM.CREATE.>",
	"$JS.API.CONSUMER.DELETE.>",
}

// For is what user may do on topology t.
func For(t bus.Topology, user string) (Permissions, error) {
	streamsInfo := []string{
		"$JS.API.INFO", // readiness: bus.PingNATS asks for the account's JetStream info
		"$JS.API.STREAM.INFO." + t.Stream,
		"$JS.API.STREAM.INFO." + t.DLQStream,
		"$JS.API.STREAM.INFO.KV_" + bus.PinsBucket,
	}
	inbox := bus.InboxPrefix(user) + ".>"
	switch {
	case user == Admin:
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}}, nil
	case user == Gateway:
		p := Permissions{DenyPublish: destructive, Subscribe: []string{
			inbox,
			// Member events as they are appended: a removal through any gateway
			// instance reaches every instance's membership cache.
			bus.PublishSubjectPattern(event.KindMember),
		}}
		for _, kind := range []string{event.KindMessage, event.KindRead, event.KindMember, event.KindChat, event.KindChange} {
			p.Publish = append(p.Publish, bus.PublishSubjectPattern(kind))
		}
		p.Publish = append(p.Publish, streamsInfo...)
		p.Publish = append(p.Publish,
			// The original of a deduplicated send, a reply target, a chat's
			// newest message: by sequence or by last subject, direct or not.
			"$JS.API.DIRECT.GET."+t.Stream,
			"$JS.API.DIRECT.GET."+t.Stream+".>",
			"$JS.API.STREAM.MSG.GET."+t.Stream,
		)
		return p, nil
	case slices.Contains(ops.Workers, user):
		p := Permissions{DenyPublish: destructive, Subscribe: []string{inbox}}
		p.Publish = append(p.Publish, streamsInfo...)
		for part := 0; part < t.Partitions; part++ {
			c := t.Stream + "." + bus.ConsumerName(user, part)
			p.Publish = append(p.Publish,
				// Create or update: nats.go puts the filter subject after the
				// name ($JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>).
				"$JS.API.CONSUMER.CREATE."+c+".>",
				"$JS.API.CONSUMER.INFO."+c,
				"$JS.API.CONSUMER.MSG.NEXT."+c,
				// A newly pinned client moves the consumer back to its ack floor.
				"$JS.API.CONSUMER.RESET."+c,
				"$JS.ACK."+c+".>",
				"$JS.ACK.*.*."+c+".>",
			)
		}
		p.Publish = append(p.Publish,
			bus.DLQSubject(user),
			fmt.Sprintf("$KV.%s.%s.*", bus.PinsBucket, user), // bus.PinKey(user, partition)
		)
		return p, nil
	}
	return Permissions{}, fmt.Errorf("unknown bus user %q (known: %s)", user, strings.Join(Users(), ", "))
}
