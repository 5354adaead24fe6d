// One update stream per user (API.md "Per-user updates (1.1)"): the client subscribes
// to the personal channel only, however many chats the user is in, and a chat beyond
// the loaded pages still comes to the top live; after time offline, what was sent
// meanwhile appears, each message once.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, chatItem, directChat, eventually, launchBrowser, messageByText, openChat, openPage, registerUser,
  screenshot, send, signIn, waitLiveApplied,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

/** Every chat of the user in the server's order (most recent first), page by page. */
async function allChats(user) {
  const out = []
  let cursor = null
  for (;;) {
    const page = await api('/chats?limit=200' + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''), { token: user.token })
    out.push(...page.chats)
    if (!page.next_cursor) return out
    cursor = page.next_cursor
  }
}

/** Runs fn over items, `width` at a time. */
async function inBatches(items, width, fn) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn))
}

/** The API requests a page makes, in order, with the channel of each subscription-token request. */
function recordRequests(page) {
  const seen = []
  page.on('request', (req) => {
    const url = new URL(req.url())
    if (!url.pathname.startsWith('/api/v1/')) return
    let channel
    if (url.pathname === '/api/v1/realtime/subscription-token') {
      try {
        channel = JSON.parse(req.postData() ?? '{}').channel
      } catch {
        channel = '?'
      }
    }
    seen.push({ method: req.method(), path: url.pathname, search: url.search, channel })
  })
  return seen
}

test('in 200 chats, a message to the oldest brings it to the top with a badge through the personal channel; chat channels only for rows in view', { timeout: 300_000 }, async (t) => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const titles = Array.from({ length: 200 }, (_, i) => `group ${String(i).padStart(3, '0')}`)
  await inBatches(titles, 10, (title) => api('/chats', { method: 'POST', token: alice.token, body: { title, member_ids: [bob.id] } }))
  const chats = await eventually(async () => {
    const all = await allChats(alice)
    return all.length === 200 && all
  }, 'alice is in 200 chats', 60_000)
  const oldest = chats.at(-1)
  const { personal_channel: personal } = await api('/realtime/token', { token: alice.token })

  const { page, context, problems } = await openPage(browser)
  const requests = recordRequests(page)
  await signIn(page, alice)
  await chatItem(page, chats[0].id).waitFor()
  // The first page holds 50 chats: the oldest is not in it.
  assert.equal(await chatItem(page, oldest.id).count(), 0, 'the oldest chat is beyond the first page')
  // The first subscription asks GET /updates from the cursor; once it has been asked,
  // the stream is live and what bob sends now comes through the subscription.
  await eventually(() => requests.some((r) => r.path === '/api/v1/updates' && r.search.includes('after=')), 'the first catch-up')

  const started = Date.now()
  const requestsBeforeSend = requests.length
  await send(bob, oldest.id, 'to the oldest chat')
  const item = chatItem(page, oldest.id)
  await item.getByTestId('unread-badge').waitFor({ timeout: 10_000 })
  const elapsed = Date.now() - started
  t.diagnostic(`the oldest of 200 chats came to the top with its badge ${elapsed} ms after the send was accepted`)
  assert.equal((await item.getByTestId('unread-badge').textContent()).trim(), '1')
  assert.equal(Number(await page.getByTestId('chat-item').first().getAttribute('data-chat-id')), oldest.id)
  assert.match(await item.getByTestId('chat-preview').textContent(), /to the oldest chat/)
  await screenshot(page, '20-oldest-of-200-on-top')

  // The cursor was taken before the chat list was loaded (API.md). The oldest chat came
  // through the personal channel alone: its own channel was never subscribed. Chat
  // channels are subscribed only for typing and presence (API 1.1), and only for the
  // rows in view — a few of the 200, all from the top of the list.
  const firstUpdates = requests.findIndex((r) => r.path === '/api/v1/updates' && r.search === '')
  const firstList = requests.findIndex((r) => r.path === '/api/v1/chats')
  assert.ok(firstUpdates >= 0 && firstUpdates < firstList, `GET /updates (${firstUpdates}) before GET /chats (${firstList})`)
  const tokenRequests = requests.filter((r) => r.path === '/api/v1/realtime/subscription-token')
  assert.ok(tokenRequests.some((r) => r.channel === personal), 'the personal channel was subscribed with a token')
  const chatTokens = tokenRequests.filter((r) => r.channel !== personal)
  assert.ok(
    !requests.slice(0, requestsBeforeSend).some((r) => r.channel === oldest.channel),
    'the oldest chat’s channel was not subscribed when the message came (only once its row was in view)',
  )
  const rowsInView = 800 / 60 // the page's height over a row's: the most rows that fit on screen
  assert.ok(chatTokens.length <= rowsInView + 3, `${chatTokens.length} chat channels subscribed, at most the rows in view`)
  const topChannels = new Set(chats.slice(0, 20).map((c) => c.channel))
  assert.deepEqual(chatTokens.filter((r) => !topChannels.has(r.channel) && r.channel !== oldest.channel), [], 'only chats at the top of the list')
  t.diagnostic(`${requests.length} API requests, ${tokenRequests.length} subscription token(s): ${personal} and ${chatTokens.length} chat(s) in view`)
  assert.deepEqual(problems.errors, [])
  await context.close()
})

/**
 * Alice has a direct chat with bob open and a group with him in her list; the line to
 * Centrifugo is cut, bob writes 5 messages in the open chat and 3 in the other, the line
 * comes back. With breakRecovery the client's resubscription carries an epoch the
 * server cannot match, as when Centrifugo lost the channel's history: the client must
 * then catch up from GET /updates, and still not reload.
 */
async function offlineScenario(t, { breakRecovery }) {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const open = await directChat(bob, alice)
  const other = await api('/chats', { method: 'POST', token: bob.token, body: { title: 'other', member_ids: [alice.id] } })
  await send(bob, open.id, 'before')

  const { page, context, problems } = await openPage(browser)
  const requests = recordRequests(page)
  // Offline for the websocket too: Chromium's offline emulation leaves open websockets
  // alone, so the test stands between the page and Centrifugo and cuts the line itself.
  let offline = false
  let connections = 0
  const lines = new Set()
  await page.routeWebSocket(/\/connection\/websocket/, (ws) => {
    if (offline) {
      ws.close({ code: 3000, reason: 'offline' })
      return
    }
    connections++
    const server = ws.connectToServer()
    if (breakRecovery && connections > 1) {
      ws.onMessage((frame) => server.send(typeof frame === 'string' ? spoilRecovery(frame) : frame))
    }
    const line = { ws, server }
    lines.add(line)
    ws.onClose(() => lines.delete(line))
  })
  await signIn(page, alice)
  await openChat(page, open.id)
  await messageByText(page, 'before').waitFor()
  // Alice's read of 'before' reaches the server first: its update would otherwise come
  // live after the reconnect and reveal the gap by itself, hiding whether the
  // resubscription alone leads to a catch-up.
  await eventually(async () => (await api(`/chats/${open.id}`, { token: alice.token })).unread_count === 0, 'before read on the server')
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="message-list"]')?.dataset.seenId ?? 0) > 0)

  offline = true
  await context.setOffline(true)
  for (const { ws, server } of Array.from(lines)) {
    await server.close().catch(() => {})
    await ws.close({ code: 3000, reason: 'offline' }).catch(() => {})
  }
  await page.locator('[data-testid="connection-state"]:not([data-state="connected"])').waitFor()

  const sent = []
  for (let i = 1; i <= 5; i++) sent.push(await send(bob, open.id, `while away ${i}`))
  for (let i = 1; i <= 3; i++) await send(bob, other.id, `elsewhere ${i}`)

  const back = Date.now()
  const requestsBefore = requests.length
  offline = false
  await context.setOffline(false)
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 30_000 })
  // The open chat applies each message of the stream as it comes; once the last one is
  // in, every earlier copy (history, recovery, catch-up) has had its chance to show twice.
  await waitLiveApplied(page, sent.at(-1).id)
  t.diagnostic(`caught up ${Date.now() - back} ms after going back online`)
  assert.equal(connections, 2, 'the line was cut and the client connected again, once')
  for (const m of sent) assert.equal(await messageByText(page, m.text).count(), 1, `${m.text} shown once`)
  assert.equal(await page.getByTestId('message').count(), 6, 'before and the five sent while away, nothing else')
  // The chat not open counts each of its three once.
  await eventually(async () => (await chatItem(page, other.id).getByTestId('unread-badge').textContent())?.trim() === '3', 'badge 3 on the other chat')

  const since = requests.slice(requestsBefore)
  const catchUps = since.filter((r) => r.path === '/api/v1/updates' && r.search.includes('after='))
  t.diagnostic(`after going back online: ${since.map((r) => r.method + ' ' + r.path + r.search).join(', ')}`)
  if (breakRecovery) assert.ok(catchUps.length >= 1, 'recovery failed, so the stream asked GET /updates from its cursor')
  // Not a reload: the chat list is not asked for again (only a 410 would).
  assert.deepEqual(since.filter((r) => r.path === '/api/v1/chats'), [], 'the chat list was not reloaded')
  assert.deepEqual(problems.errors, [])
  await context.close()
}

/** Rewrites a frame of Centrifugo's JSON protocol so that a subscribe's recovery cannot succeed. */
function spoilRecovery(frame) {
  return frame
    .split('\n')
    .map((line) => {
      if (!line.includes('"subscribe"')) return line
      const cmd = JSON.parse(line)
      if (cmd.subscribe?.recover) cmd.subscribe.epoch = 'lost'
      return JSON.stringify(cmd)
    })
    .join('\n')
}

test('messages sent while the client was offline appear once it is back, each once (Centrifugo recovers them)', { timeout: 180_000 }, async (t) => {
  await offlineScenario(t, { breakRecovery: false })
})

test('when Centrifugo cannot recover, the client catches up from GET /updates, each message once, without a reload', { timeout: 180_000 }, async (t) => {
  await offlineScenario(t, { breakRecovery: true })
})

test('a member joining or leaving changes the member count shown in the open chat’s header (from the list’s summary)', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const carol = await registerUser('carol')
  const group = await api('/chats', { method: 'POST', token: bob.token, body: { title: 'three soon', member_ids: [alice.id] } })

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await openChat(page, group.id)
  const subtitle = page.locator('.chat-header__subtitle')
  await eventually(async () => (await subtitle.textContent()).trim() === '2 members', 'header: 2 members')

  await api(`/chats/${group.id}/members`, { method: 'POST', token: bob.token, body: { user_id: carol.id } })
  await eventually(async () => (await subtitle.textContent()).trim() === '3 members', 'header: 3 members')
  await api(`/chats/${group.id}/members/${carol.id}`, { method: 'DELETE', token: carol.token })
  await eventually(async () => (await subtitle.textContent()).trim() === '2 members', 'header: 2 members again')
  assert.deepEqual(problems.errors, [])
  await context.close()
})

test('a 410 from GET /updates: a fresh cursor first, then the chat list reloads, and the stream goes on', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(bob, alice)

  const { page, context, problems } = await openPage(browser)
  const requests = recordRequests(page)
  // The first catch-up (on the first subscribe) is told that its cursor is gone, as when
  // the server lost the user's stream.
  let gone = 0
  await page.route(/\/api\/v1\/updates\?after=/, async (route) => {
    if (gone++ > 0) return route.continue()
    await route.fulfill({ status: 410, contentType: 'application/json', body: JSON.stringify({ error: { code: 'gone', message: 'cursor too old' } }) })
  })
  await signIn(page, alice)
  await eventually(() => gone > 0, 'the first catch-up was answered 410')
  await eventually(() => requests.filter((r) => r.path === '/api/v1/chats').length === 2, 'the chat list reloaded')
  const at410 = requests.findIndex((r) => r.path === '/api/v1/updates' && r.search.includes('after='))
  const rest = requests.slice(at410 + 1).filter((r) => r.path === '/api/v1/updates' || r.path === '/api/v1/chats')
  assert.deepEqual(rest.slice(0, 2).map((r) => r.path + r.search), ['/api/v1/updates', '/api/v1/chats?limit=50'], 'a fresh cursor, then the list')

  // Live from the new cursor: bob's message shows in the list, counted once.
  await send(bob, chat.id, 'after the reset')
  const item = chatItem(page, chat.id)
  await eventually(async () => (await item.getByTestId('unread-badge').textContent())?.trim() === '1', 'badge 1')
  assert.match(await item.getByTestId('chat-preview').textContent(), /after the reset/)
  assert.deepEqual(problems.errors, [])
  await context.close()
})
