package config

// Descriptions say what each environment variable does, for the generated
// table in docs/configuration.md. Defaults and which process reads a variable
// come from the code itself (describe-config); e2e/configdoc_test.go fails
// when a variable read by some process has no description here, when a
// description names a variable nobody reads, or when the docs differ from
// what the code says.
var Descriptions = map[string]string{
	"LOG_LEVEL": "`debug` for more (a line per request and per event applied, each with its trace); anything else is `info`",

	"OTEL_TRACES_EXPORTER":               "`otlp` exports spans (OTLP over HTTP); `none` or unset: none, unless an OTLP endpoint is set (trace ids are in the logs and the log's headers either way)",
	"OTEL_EXPORTER_OTLP_ENDPOINT":        "the OTLP collector (`http://host:4318`); setting it turns export on when `OTEL_TRACES_EXPORTER` is unset. The exporter reads the other `OTEL_EXPORTER_OTLP_*` settings (timeout, compression, certificates) itself",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "the collector's traces URL, instead of `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`",
	"OTEL_EXPORTER_OTLP_HEADERS":         "headers sent with every export (`key=value,…`, e.g. a token), masked in the config log",
	"OTEL_EXPORTER_OTLP_PROTOCOL":        "`http/protobuf`, the only protocol of this build",
	"OTEL_TRACES_SAMPLER":                "which traces are exported (the SDK's names: `parentbased_always_on`, `traceidratio`, …); only when exporting",
	"OTEL_TRACES_SAMPLER_ARG":            "the sampler's argument (the ratio of `traceidratio`)",

	"NATS_URL":      "the NATS server (JetStream)",
	"NATS_USER":     "this process's NATS user: each service has its own, with only the permissions it needs (`ingest/access`)",
	"NATS_PASSWORD": "the NATS user's password (`make up` generates one per user into `.run/secrets.env`)",
	"NATS_TLS_CA":   "the CA that signed the NATS server's certificate; setting it turns TLS on",
	"NATS_TLS_CERT": "a client certificate, for a NATS server that asks for one",
	"NATS_TLS_KEY":  "the client certificate's key",

	"STREAM_NAME":             "the log's stream",
	"STREAM_DLQ_NAME":         "the dead-letter stream",
	"STREAM_PARTITIONS":       "partitions of the log; fixed once the stream exists; as many as the most instances of one worker type you will run",
	"STREAM_DUPLICATE_WINDOW": "how long the log remembers a send's idempotency key (`client_id`)",
	"STREAM_MAX_AGE":          "how far back the log keeps events (how far a replay can go)",
	"STREAM_REPLICAS":         "copies of the stream in a NATS cluster",
	"CONSUMER_ACK_WAIT":       "how long an unacknowledged event waits before redelivery",
	"CONSUMER_PINNED_TTL":     "how long a silent worker instance keeps its partitions before another takes over",

	"HEALTH_ADDR":         "where a worker serves `/healthz`, `/readyz` and `/metrics`",
	"PPROF_ADDR":          "serves `net/http/pprof` there; empty is off (`scripts/stack.sh` sets it when `PPROF_PORT_BASE` is set)",
	"WORKER_BATCH":        "events per handler call, at most",
	"WORKER_MAX_ATTEMPTS": "tries of a failing event, while its dependency answers, before it is dead-lettered",
	"WORKER_BACKOFF_MAX":  "the longest wait between retries",
	"WORKER_CALLS":        "handler calls in flight, each combining the partitions' ready batches (`0`: one call per partition batch)",
	"WORKER_LINGER":       "how long a busy partition waits for more events before a call (only while they arrive closer together than this)",

	"MYSQL_DSN":             "the main MySQL database and the installation's app account, which may only read and write rows (go-sql-driver DSN: `user:password@tcp(host:3306)/logchat`; `make up` sets it); ingest reads it for `verify` only",
	"MIGRATE_MYSQL_DSN":     "the main MySQL database and the installation's migrate account, the only one that may change the schema (go-sql-driver DSN); `ingest verify` creates, migrates and drops its scratch database with it (with MYSQL_DSN when unset)",
	"REDIS_ADDR":            "the Redis of the chat cache, the update streams, typing, presence and login limits: one host:port (one Redis or a primary); leave it unset with REDIS_CLUSTER_ADDRS",
	"REDIS_CLUSTER_ADDRS":   "Redis Cluster instead of one Redis: comma-separated host:port seeds (a few of its nodes; the rest are learned from them), e.g. 10.0.0.1:6379,10.0.0.2:6379; REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS* apply to every node; not together with REDIS_ADDR (docs/design.md, \"Redis: one instance or Redis Cluster\")",
	"REDIS_USERNAME":        "the Redis ACL user to log in as (`make up` creates one per installation and stack, limited to `REDIS_PREFIX`); empty is the default user",
	"REDIS_PASSWORD":        "the Redis user's password (empty: no login); when set it must pass the secret rules (16 bytes or more, never a published value)",
	"REDIS_TLS":             "talk TLS to Redis, verifying its certificate against the system's roots",
	"REDIS_TLS_CA":          "the CA that signed Redis's certificate; setting it turns TLS on",
	"REDIS_TLS_CERT":        "a client certificate, for a Redis with `tls-auth-clients`",
	"REDIS_TLS_KEY":         "the client certificate's key",
	"REDIS_PREFIX":          "the namespace of every Redis key of this installation",
	"CACHE_RECENT_MESSAGES": "message ids kept per chat for unread counts",

	"CENTRIFUGO_API_URL":      "Centrifugo's server API, on its internal port (never the clients')",
	"CENTRIFUGO_API_KEY":      "Centrifugo's server API key",
	"UPDATES_KEEP":            "updates kept per user for GET /updates (the newest; an older cursor gets 410)",
	"UPDATES_IDLE_TTL":        "how long a user's update stream is kept after its last update (at least 168h)",
	"CENTRIFUGO_WS_URL":       "the WebSocket address clients connect to (sent to them with their token)",
	"CENTRIFUGO_HMAC_SECRET":  "the secret Centrifugo checks connection and subscription tokens with",
	"REALTIME_TOKEN_TTL":      "lifetime of a realtime connection token (and, in the benchmark's baseline, of subscription tokens)",
	"PRESENCE_SWEEP_INTERVAL": "how often one gateway instance asks Centrifugo who is subscribed to their personal channel, and publishes who came online or went offline: the delay of `online` and the precision of `last_seen_at`",
	"SUBSCRIPTION_TOKEN_TTL":  "lifetime of a subscription token: how long a member removed from a chat could still subscribe to it with a token fetched before; clients refresh theirs before it ends",

	"GATEWAY_PUBLIC_METRICS":     "serve `/metrics` on `GATEWAY_ADDR` too, as API.md's health section asks; set `false` in a deployment and scrape `GATEWAY_INTERNAL_ADDR`",
	"GATEWAY_ADDR":               "where the gateway listens: the API, the web client, `/healthz` and `/readyz` (failing dependencies by name only)",
	"GATEWAY_INTERNAL_ADDR":      "the gateway's internal listener: `/healthz`, `/readyz` with the dependencies' errors, and `/metrics` (served nowhere else); never expose it to clients (`scripts/stack.sh`: `HEALTH_PORT_BASE`)",
	"WEB_DIR":                    "the built web client the gateway serves (none when the folder is absent)",
	"JWT_SECRET":                 "the secret bearer tokens are signed with",
	"JWT_TTL":                    "lifetime of a bearer token",
	"BCRYPT_COST":                "bcrypt's cost for passwords",
	"RATE_LIMIT_PER_MINUTE":      "requests per user and minute (`0` is off)",
	"RATE_LIMIT_AUTH_PER_MINUTE": "requests per client address and minute on `/auth` (`0` is off)",
	"RATE_LIMIT_ANON_PER_MINUTE": "requests per client address and minute that carry no valid token (any path: the API, the web client, health; `0` is off)",
	"TRUSTED_PROXIES":            "the reverse proxies (addresses or CIDR ranges, separated by commas) whose `PROXY_HEADER` names the client; empty: the client is the connection's peer and forwarded headers are ignored",
	"PROXY_HEADER":               "the header in which a trusted proxy names the client (`X-Forwarded-For`: read from the right, skipping trusted proxies; or one like `X-Real-IP` that the proxy overwrites)",
	"LOGIN_MAX_FAILURES":         "failed logins of one account (by name, shared by every gateway instance through Redis) after which its logins are refused with 429 until the window has passed (`0` is off)",
	"LOGIN_FAILURE_WINDOW":       "the window of `LOGIN_MAX_FAILURES`, counted from an account's first failure",
	"REQUEST_TIMEOUT":            "the longest a request may take",
	"GROUP_MAX_MEMBERS":          "the most members a group may have; creating a larger group or adding to a full one is 409",
	"MEMBERSHIP_CACHE_TTL":       "how long a member's role read from MySQL is reused (removals reach every instance at once through the log; `0` is off)",
	"SHUTDOWN_TIMEOUT":           "how long a stopping gateway lets requests finish",

	"PUBLISH_GROUP_COMMIT": "coalesce concurrent sends into one atomic batch append",
	"PUBLISH_WINDOW":       "how long a batch waits for more sends",
	"PUBLISH_MAX_BATCH":    "sends per batch, at most",
	"PUBLISH_COMMITTERS":   "batches in flight",
	"PUBLISH_TIMEOUT":      "how long an append may take before the send answers 503",
	"PUBLISH_SMALL_BATCH":  "batches smaller than this are appended one by one, pipelined (an atomic batch costs the server more than a few fsyncs)",
}
