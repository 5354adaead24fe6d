package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/report"
	"github.com/logchat/bench/internal/stats"
	"github.com/logchat/searcher/index"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// The search scenario (issue 14): an index of --search-messages generated
// messages over --search-chats chats, loaded straight into MySQL with the
// persister's batch code (messages) and the searcher's own indexing code
// (index.Op and sqlstore.ApplySearch: what the searcher does per batch), not
// through HTTP; then query latency through GET /search/messages for a user in
// --search-user-chats chats (one of them big); then the index lag and the
// send path with and without the searcher, under steady load.

// searchVocabulary is a Zipf-ranked vocabulary: real frequent words of both
// languages first, then generated words of both alphabets for the long tail.
func searchVocabulary(r *rand.Rand, size int) []string {
	en := strings.Fields(`the be to of and a in that have I it for not on with he as you do at this but his by from
		they we say her she or an will my one all would there their what so up out if about who get which go me when make
		can like time no just him know take people into year your good some could them see other than then now look only
		come its over think also back after use two how our work first well way even new want because any these give day
		most us meeting deploy server release budget report quarter coffee weekend football music holiday ticket flight`)
	ru := strings.Fields(`и в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь
		год от так о для ты же все тот мочь вы человек такой его сказать только или еще бы себя один как уже до время если
		сам когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень два день её новый рука
		даже во со раз где там под можно ну какой после их работа без самый потом надо хотеть ли слово идти большой
		должен место иметь ничто встреча отчет релиз сервер бюджет квартал кофе выходные футбол музыка отпуск билет`)
	words := append(append([]string{}, en...), ru...)
	// Interleave the two languages' frequent words so both are common.
	r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	seen := map[string]bool{}
	for _, w := range words {
		seen[w] = true
	}
	enSyl := strings.Fields("ka re mo ti la ne so pu ri de ga lo mi ta ve no si ro be ku an er in on st th ch sh")
	ruSyl := strings.Fields("ка ре мо ти ла не со пу ри де га ло ми та ве но си ро бе ку ан ер ин он ст щи жу ча ша ю")
	for len(words) < size {
		syl := enSyl
		if r.IntN(2) == 0 {
			syl = ruSyl
		}
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// searchText is one generated message: 3 to 20 Zipf-drawn words, a capital
// first letter now and then, punctuation.
func searchText(r *rand.Rand, z *rand.Zipf, vocab []string) string {
	n := 3 + r.IntN(18)
	var b strings.Builder
	for i := range n {
		w := vocab[z.Uint64()]
		if i == 0 && r.IntN(2) == 0 {
			rs := []rune(w)
			w = strings.ToUpper(string(rs[0])) + string(rs[1:])
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if r.IntN(8) == 0 {
			b.WriteString([]string{",", ".", "!", "?", ":"}[r.IntN(5)])
		}
	}
	return b.String()
}

// SearchResult is the scenario's report.
type SearchResult struct {
	Messages     int                      `json:"messages"`
	Chats        int                      `json:"chats"`
	UserChats    int                      `json:"user_chats"`
	BigChat      int                      `json:"big_chat_messages"`
	LoadSeconds  float64                  `json:"load_seconds"`
	LoadRate     float64                  `json:"load_messages_per_second"`
	IndexRows    int64                    `json:"index_rows"`
	IndexMB      float64                  `json:"index_mb"`
	Queries      map[string]stats.Summary `json:"queries"`
	QueryHits    map[string]float64       `json:"mean_hits"`
	Lag          stats.Summary            `json:"lag"`
	LagProbesBad int                      `json:"lag_probes_not_found"`
	// Steady is each steady phase's figures, searcher stopped then running:
	// what the searcher costs is their difference.
	Steady []SearchSteady `json:"steady,omitempty"`
}

// SearchSteady is one steady phase of the search scenario.
type SearchSteady struct {
	Name       string  `json:"name"`
	Rate       float64 `json:"accepted_per_second"`
	SendP99    float64 `json:"send_p99_ms"`
	E2EP99     float64 `json:"delivery_p99_ms"`
	PersistP99 float64 `json:"persist_p99_ms"`
	// CPU per accepted message, in µs: the searcher's, MariaDB's (the
	// machine's shared server: other work shows in it too) and the stack's.
	SearcherMicros float64 `json:"searcher_cpu_us_per_msg"`
	MariaDBMicros  float64 `json:"mariadb_cpu_us_per_msg"`
	StackMicros    float64 `json:"stack_cpu_us_per_msg"`
}

// steadyFigures takes the last scenario's figures into res.
func (b *bench) steadyFigures(res *SearchResult) {
	if len(b.rep.Scenarios) == 0 {
		return
	}
	sc := b.rep.Scenarios[len(b.rep.Scenarios)-1]
	f := SearchSteady{Name: sc.Name, Rate: sc.Rate, SendP99: sc.Send.P99, E2EP99: sc.E2E.P99, PersistP99: sc.Persist.P99}
	var total float64
	for _, u := range sc.Procs {
		total += u.CPUSeconds
		switch u.Name {
		case "searcher":
			f.SearcherMicros = report.MicrosPerMsg(u.CPUSeconds, sc.Accepted)
		case "mariadb":
			f.MariaDBMicros = report.MicrosPerMsg(u.CPUSeconds, sc.Accepted)
		}
	}
	f.StackMicros = report.MicrosPerMsg(total, sc.Accepted)
	res.Steady = append(res.Steady, f)
}

func (b *bench) search(ctx context.Context) error {
	if b.cfg.MySQLDSN == "" {
		return fmt.Errorf("search loads MySQL directly: set MIGRATE_MYSQL_DSN or --mysql")
	}
	res := &SearchResult{Messages: b.cfg.SearchMessages, Chats: b.cfg.SearchChats, UserChats: b.cfg.SearchUserChats,
		Queries: map[string]stats.Summary{}, QueryHits: map[string]float64{}}
	r := rand.New(rand.NewPCG(1, 2))
	vocab := searchVocabulary(r, 40000)

	// The searching user and a few authors, through the API (tokens, names).
	var authors []load.User
	for i := range 8 {
		u, err := b.api.Register(ctx, fmt.Sprintf("%ss%d", b.cfg.Prefix, i))
		if err != nil {
			return fmt.Errorf("register: %w", err)
		}
		authors = append(authors, u)
	}
	me := authors[0]

	st, err := sqlstore.OpenProjection(ctx, b.cfg.MySQLDSN)
	if err != nil {
		return err
	}
	defer st.Close()
	raw, err := sql.Open("mysql", b.cfg.MySQLDSN)
	if err != nil {
		return err
	}
	defer raw.Close()

	// Chats and the user's memberships, straight into MySQL: ids above
	// every chat the API made, so that they cannot meet.
	var base int64
	if err := raw.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1000 FROM chats").Scan(&base); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for lo := 0; lo < b.cfg.SearchChats; lo += 500 {
		hi := min(lo+500, b.cfg.SearchChats)
		var args []any
		for c := lo; c < hi; c++ {
			args = append(args, base+int64(c), "group", fmt.Sprintf("search %d", c), me.ID, now, now)
		}
		if _, err := raw.ExecContext(ctx, "INSERT INTO chats (id, kind, title, created_by, created_at, updated_at) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", hi-lo), ","), args...); err != nil {
			return fmt.Errorf("chats: %w", err)
		}
	}
	for c := range b.cfg.SearchUserChats {
		for _, a := range authors {
			if _, err := raw.ExecContext(ctx, "INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)",
				base+int64(c), a.ID, now); err != nil {
				return fmt.Errorf("members: %w", err)
			}
		}
	}

	// Messages: ids above the log's (the bench stack's log is far below
	// 10^12), the big chat (the user's first) gets --search-big-share of them.
	const idBase = int64(1_000_000_000_000)
	bigShare := b.cfg.SearchBigShare
	started := time.Now()
	var next, bigCount atomic.Int64
	const chunk = 1000
	workers := 3
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			z := rand.NewZipf(r, 1.07, 2, uint64(len(vocab)-1))
			for {
				lo := next.Add(chunk) - chunk
				if lo >= int64(b.cfg.SearchMessages) || ctx.Err() != nil {
					errs <- nil
					return
				}
				hi := min(lo+chunk, int64(b.cfg.SearchMessages))
				var msgs []domain.Message
				var ops []sqlstore.SearchOp
				for i := lo; i < hi; i++ {
					chat := base + int64(r.IntN(b.cfg.SearchChats))
					if r.Float64() < bigShare {
						chat = base
						bigCount.Add(1)
					}
					a := authors[r.IntN(len(authors))]
					m := domain.Message{ID: idBase + i, ChatID: chat, Author: domain.User{ID: a.ID, Name: a.Name},
						Text: searchText(r, z, vocab), ClientID: "s" + strconv.FormatInt(i, 36), SentAt: now}
					msgs = append(msgs, m)
					env, err := event.New(event.MessageCreated, chat, a.ID, now, event.MessageCreatedData{Author: m.Author, Text: m.Text, ClientID: m.ClientID})
					if err != nil {
						errs <- err
						return
					}
					op, ok, err := index.Op(event.Event{Envelope: env, Seq: uint64(m.ID)})
					if err != nil || !ok {
						errs <- fmt.Errorf("index op of message %d: %v", m.ID, err)
						return
					}
					ops = append(ops, op)
				}
				if err := st.ApplyBatch(ctx, sqlstore.Batch{Messages: msgs, Progress: sqlstore.Progress{}}); err != nil {
					errs <- err
					return
				}
				if err := st.ApplySearch(ctx, ops, sqlstore.Progress{}); err != nil {
					errs <- err
					return
				}
				if hi%50000 < chunk {
					log.Printf("search: loaded %d messages (%.0f/s)", hi, float64(hi)/time.Since(started).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	res.LoadSeconds = round1(time.Since(started).Seconds())
	res.LoadRate = round1(float64(b.cfg.SearchMessages) / time.Since(started).Seconds())
	res.BigChat = int(bigCount.Load())
	_ = raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM search_terms").Scan(&res.IndexRows)
	var bytes sql.NullFloat64
	_ = raw.QueryRowContext(ctx, "SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE table_schema = DATABASE() AND table_name IN ('search_terms', 'search_docs')").Scan(&bytes)
	res.IndexMB = round1(bytes.Float64 / (1 << 20))
	log.Printf("search: loaded %d messages in %.0f s (%.0f/s), %d index rows, %.0f MB", b.cfg.SearchMessages, res.LoadSeconds, res.LoadRate, res.IndexRows, res.IndexMB)

	// Queries through the HTTP API, one at a time, as the user.
	query := func(q string, chat int64) (float64, int, error) {
		v := url.Values{"q": {q}, "limit": {"20"}}
		if chat != 0 {
			v.Set("chat_id", strconv.FormatInt(chat, 10))
		}
		var page struct {
			Messages []struct{ ID int64 } `json:"messages"`
		}
		t0 := time.Now()
		st, err := b.api.Do(ctx, "GET", "/search/messages?"+v.Encode(), me.Token, nil, &page)
		el := float64(time.Since(t0).Microseconds()) / 1000
		if err == nil && st != 200 {
			err = fmt.Errorf("search answered %d", st)
		}
		return el, len(page.Messages), err
	}
	prefixOf := func(w string) string {
		rs := []rune(w)
		return string(rs[:min(len(rs), 3)])
	}
	classes := []struct {
		name string
		chat int64
		q    func() string
	}{
		{"rare word", 0, func() string { return vocab[2000+r.IntN(len(vocab)-2000)] }},
		{"common word", 0, func() string { return vocab[r.IntN(20)] }},
		{"prefix (3 letters)", 0, func() string { return prefixOf(vocab[20+r.IntN(2000)]) }},
		{"two common words", 0, func() string { return vocab[r.IntN(20)] + " " + vocab[r.IntN(20)] }},
		{"common word, big chat", base, func() string { return vocab[r.IntN(20)] }},
		{"rare word, big chat", base, func() string { return vocab[2000+r.IntN(len(vocab)-2000)] }},
	}
	for _, c := range classes {
		for range 5 { // warm-up
			if _, _, err := query(c.q(), c.chat); err != nil {
				return err
			}
		}
		var lat []float64
		hits := 0
		for range b.cfg.SearchQueries {
			el, n, err := query(c.q(), c.chat)
			if err != nil {
				return err
			}
			lat = append(lat, el)
			hits += n
		}
		res.Queries[c.name] = stats.Summarize(lat)
		res.QueryHits[c.name] = round1(float64(hits) / float64(b.cfg.SearchQueries))
		log.Printf("search: %-22s p50 %.1f ms p99 %.1f ms (mean hits %.1f)", c.name, res.Queries[c.name].P50, res.Queries[c.name].P99, res.QueryHits[c.name])
	}

	// Steady load without and with the searcher, in one sitting; with it,
	// probes measure the index lag: a message with a word of its own, sent
	// every 200 ms, searched for every 20 ms until found.
	if b.cfg.SearchSteady {
		if err := b.stack(nil, "stop-worker", "searcher"); err != nil {
			return err
		}
		err := b.steady(ctx, "steady, searcher stopped", "log", load.Mix{})
		b.steadyFigures(res)
		if e := b.stack(nil, "start-worker", "searcher"); err == nil {
			err = e
		}
		if err != nil {
			return err
		}
		b.waitIdle(300 * time.Second)
		probeChat, err := b.api.CreateChat(ctx, me.Token, "", []int64{authors[1].ID})
		if err != nil {
			return err
		}
		// One poller asks about the oldest probe still unfound, every 20 ms:
		// the probes are one chat's, so the index takes them in log order,
		// and until the oldest is found no newer one is. (A poller per probe
		// was measured first: with the index seconds behind, a hundred of
		// them polled at once, and their queries' CPU, on the same cores,
		// made it further behind.)
		type probe struct {
			id   int64
			word string
			sent time.Time
		}
		var pending []probe // by message id
		var lags []float64
		var mu sync.Mutex
		var bad atomic.Int64
		pctx, stop := context.WithCancel(ctx)
		var pwg sync.WaitGroup
		sendersDone := make(chan struct{}) // closed once every probe sent is in pending
		pwg.Add(2)
		go func() {
			defer pwg.Done()
			defer close(sendersDone)
			var swg sync.WaitGroup
			defer swg.Wait()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-pctx.Done():
					return
				case <-tick.C:
				}
				swg.Add(1)
				go func() {
					defer swg.Done()
					word := fmt.Sprintf("zqprobe%dx%d", time.Now().UnixNano()%1_000_000_000, n)
					id, err := b.api.Send(ctx, me.Token, probeChat.ID, "probe "+word, word)
					if err != nil {
						bad.Add(1)
						return
					}
					mu.Lock()
					i := sort.Search(len(pending), func(i int) bool { return pending[i].id > id })
					pending = slices.Insert(pending, i, probe{id: id, word: word, sent: time.Now()})
					mu.Unlock()
				}()
			}
		}()
		go func() {
			defer pwg.Done()
			for {
				mu.Lock()
				if len(pending) == 0 {
					mu.Unlock()
					select {
					case <-sendersDone:
						mu.Lock()
						last := len(pending) == 0
						mu.Unlock()
						if last {
							return
						}
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				p := pending[0]
				mu.Unlock()
				_, hits, err := query(p.word, probeChat.ID)
				found := err == nil && hits == 1
				if found || time.Since(p.sent) >= 30*time.Second {
					mu.Lock()
					// By id: a slower send of an older probe may have been
					// put before it meanwhile.
					pending = slices.DeleteFunc(pending, func(q probe) bool { return q.id == p.id })
					if found {
						lags = append(lags, float64(time.Since(p.sent).Microseconds())/1000)
					} else {
						bad.Add(1)
					}
					mu.Unlock()
					continue // the next one may be found already
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		err = b.steady(ctx, "steady, searcher running", "log", load.Mix{})
		b.steadyFigures(res)
		stop() // the senders stop; the poller finds (or gives up on) what they sent
		pwg.Wait()
		res.Lag = stats.Summarize(lags)
		res.LagProbesBad = int(bad.Load())
		log.Printf("search: index lag under steady p50 %.0f ms p99 %.0f ms over %d probes (%d not found)", res.Lag.P50, res.Lag.P99, res.Lag.Count, res.LagProbesBad)
		if err != nil {
			return err
		}
	}
	b.rep.Notes = append(b.rep.Notes, "search: "+searchMarkdown(res))
	if err := os.MkdirAll(b.cfg.Out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.cfg.Out, "search.md"), []byte(searchMarkdown(res)), 0o644)
}

func searchMarkdown(res *SearchResult) string {
	var s strings.Builder
	fmt.Fprintf(&s, "Index: %d messages over %d chats, loaded in %.0f s (%.0f messages/s), %d term rows, %.0f MB.\n\n",
		res.Messages, res.Chats, res.LoadSeconds, res.LoadRate, res.IndexRows, res.IndexMB)
	fmt.Fprintf(&s, "User in %d chats, the first of them %d messages.\n\n| query | p50 ms | p99 ms | max ms | mean hits (limit 20) |\n|---|---|---|---|---|\n", res.UserChats, res.BigChat)
	for _, k := range []string{"rare word", "common word", "prefix (3 letters)", "two common words", "common word, big chat", "rare word, big chat"} {
		q := res.Queries[k]
		fmt.Fprintf(&s, "| %s | %.1f | %.1f | %.1f | %.1f |\n", k, q.P50, q.P99, q.Max, res.QueryHits[k])
	}
	if len(res.Steady) > 0 {
		s.WriteString("\n| steady | accepted msg/s | send p99 ms | delivery p99 ms | persist p99 ms | searcher µs/msg | MariaDB µs/msg | stack µs/msg |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range res.Steady {
			fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f |\n", f.Name, f.Rate, f.SendP99, f.E2EP99, f.PersistP99, f.SearcherMicros, f.MariaDBMicros, f.StackMicros)
		}
	}
	if res.Lag.Count > 0 {
		fmt.Fprintf(&s, "\nIndex lag under steady load (202 → found by GET /search/messages): p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d probes (%d not found within 30 s).\n",
			res.Lag.P50, res.Lag.P99, res.Lag.Max, res.Lag.Count, res.LagProbesBad)
	}
	return s.String()
}
