// Message search (API 1.1 "Search") in the browser against the real stack: results of
// every chat and of one chat, the matched word starts marked (Russian and English),
// paging with next_cursor, and a result far back in history opening its chat at that
// message — the page around it loaded, the message in view and flashed, paging down to
// the newest.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, chatItem, directChat, eventually, inListView, launchBrowser, messageByText, openChat, openPage, registerUser,
  screenshot, send, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

/** Waits until the server's search finds `count` messages for the query (the index follows the log). */
async function indexed(user, q, count, chatId) {
  const path = `/search/messages?q=${encodeURIComponent(q)}&limit=100${chatId ? `&chat_id=${chatId}` : ''}`
  return eventually(async () => {
    const res = await api(path, { token: user.token })
    return res.messages.length === count && res.messages
  }, `search for "${q}" finds ${count}`, 30_000)
}

/** The results shown: [message id, the marked parts] in order. */
function shownResults(page) {
  return page.getByTestId('search-result').evaluateAll((nodes) =>
    nodes.map((n) => [Number(n.dataset.mid), Array.from(n.querySelectorAll('[data-testid="search-mark"]')).map((m) => m.textContent)]),
  )
}

test('search finds words and prefixes in every chat, marks them, pages, and opens a chat at an old message', { timeout: 300_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const tag = Math.random().toString(36).slice(2, 8)
  const direct = await directChat(alice, bob)
  const group = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Astronomy', member_ids: [bob.id] } })

  // Far back in the direct chat (more than a page before the newest): the one to open.
  const old = await send(bob, direct.id, `Квазары светят ярче галактик ${tag}`)
  for (let i = 0; i < 130; i++) await send(i % 2 ? alice : bob, direct.id, `filler ${i} ${tag}`)
  const newest = await send(bob, direct.id, `the newest one ${tag}`)
  // In the group: the same word in another case and form, an English prefix, and no match.
  const inGroup = await send(alice, group.id, `Про квазар и Quasars ${tag}`)
  await send(bob, group.id, `сквазар is not a word start ${tag}`)
  // Enough for two pages of 20.
  for (let i = 0; i < 24; i++) await send(bob, group.id, `nebula${tag} number ${i}`)

  const found = await indexed(alice, 'квазар', 2)
  assert.deepEqual(found.map((m) => m.id).sort(), [old.id, inGroup.id].sort(), 'the server finds the word and its longer form, not the middle of a word')
  await indexed(alice, `nebula${tag}`, 24)

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await chatItem(page, direct.id).waitFor()

  // Every chat: both, newest first, the start of each matching word marked in its own case.
  await page.getByTestId('chat-filter').fill('КВАЗАР')
  await eventually(async () => (await page.getByTestId('search-result').count()) === 2, 'two results')
  assert.deepEqual(await shownResults(page), [[inGroup.id, ['квазар']], [old.id, ['Квазар']]])
  const groupHit = page.locator(`[data-testid="search-result"][data-mid="${inGroup.id}"]`)
  assert.equal(await groupHit.getByTestId('search-result-chat').textContent(), 'Astronomy')
  await screenshot(page, 'search-results')

  // An English prefix, case-insensitive: "quas" marks "Quas" of "Quasars".
  await page.getByTestId('chat-filter').fill('quas ' + tag)
  await eventually(async () => (await shownResults(page)).some(([id]) => id === inGroup.id), 'the English result')
  const marks = (await shownResults(page)).find(([id]) => id === inGroup.id)[1]
  assert.deepEqual(marks, ['Quas', tag])

  // Paging: 20 first, the rest when the end of the list comes into view.
  await page.getByTestId('chat-filter').fill(`nebula${tag}`)
  await eventually(async () => (await page.getByTestId('search-result').count()) === 20, 'the first page of 20')
  assert.equal(await page.getByTestId('search-results').getAttribute('data-has-more'), 'true')
  await page.getByTestId('search-result').last().scrollIntoViewIfNeeded()
  await eventually(async () => (await page.getByTestId('search-result').count()) === 24, 'all 24 after paging')
  await eventually(async () => (await page.getByTestId('search-results').getAttribute('data-has-more')) === 'false', 'no more pages')
  const ids = (await shownResults(page)).map(([id]) => id)
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first')
  assert.equal(new Set(ids).size, 24, 'no result twice')

  // Nothing found says so.
  await page.getByTestId('chat-filter').fill(`zzzz${tag}`)
  await page.getByTestId('search-empty').waitFor()

  // The old message: its chat opens at it, with the page around it, flashed and in view.
  const seenBefore = []
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.pathname === `/api/v1/chats/${direct.id}/messages`) seenBefore.push(u.search)
  })
  await page.getByTestId('chat-filter').fill('квазары')
  const oldHit = page.locator(`[data-testid="search-result"][data-mid="${old.id}"]`)
  await oldHit.click()
  await page.locator(`[data-testid="chat-pane"][data-chat-id="${direct.id}"]`).waitFor()
  const target = page.locator(`[data-testid="message"][data-mid="${old.id}"]`)
  await target.waitFor()
  await page.locator(`[data-testid="message"][data-mid="${old.id}"].msg--highlight`).waitFor()
  assert.ok(await inListView(target), 'the message is in view')
  assert.ok(seenBefore.some((s) => s.includes(`before=${old.id + 1}`)) && seenBefore.some((s) => s.includes(`after=${old.id}`)), `the page around it was asked for: ${seenBefore}`)
  const list = page.getByTestId('message-list')
  assert.equal(await list.getAttribute('data-has-newer'), 'true', 'the newest messages are not loaded yet')
  assert.equal(await messageByText(page, `the newest one ${tag}`).count(), 0)
  await screenshot(page, 'search-opened-at-message')

  // Scrolling down pages towards the newest, with no message missing or twice.
  await eventually(async () => {
    await list.evaluate((el) => el.scrollTo({ top: el.scrollHeight }))
    return (await list.getAttribute('data-has-newer')) === 'false'
  }, 'paged down to the newest', 60_000)
  await messageByText(page, `the newest one ${tag}`).waitFor()
  const shown = await page.locator('[data-testid="message"][data-mid]').evaluateAll((n) => n.map((e) => Number(e.dataset.mid)))
  assert.equal(new Set(shown).size, shown.length, 'no message twice')
  const stored = (await api(`/chats/${direct.id}/messages?after=${old.id - 1}&limit=200`, { token: alice.token })).messages.map((m) => m.id)
  assert.deepEqual(shown.filter((id) => id >= old.id), stored, 'every message from the one found to the newest, in order')
  assert.equal(shown.at(-1), newest.id)

  // One chat only: the header's search button scopes the search to the open chat.
  await page.getByTestId('chat-search').click()
  await page.getByTestId('search-scope').waitFor()
  await page.getByTestId('chat-filter').fill('квазар')
  await eventually(async () => (await page.getByTestId('search-result').count()) === 1, 'one result in this chat')
  assert.deepEqual(await shownResults(page), [[old.id, ['Квазар']]])
  assert.equal(await page.getByTestId('search-result').first().getAttribute('data-chat-id'), String(direct.id))
  await screenshot(page, 'search-in-chat')
  // Back to every chat.
  await page.getByTestId('search-scope-clear').click()
  await eventually(async () => (await page.getByTestId('search-result').count()) === 2, 'both again')

  // A result in the other chat, then back: the pane of the open chat jumps within it.
  await page.locator(`[data-testid="search-result"][data-mid="${inGroup.id}"]`).click()
  await page.locator(`[data-testid="chat-pane"][data-chat-id="${group.id}"]`).waitFor()
  await page.locator(`[data-testid="message"][data-mid="${inGroup.id}"].msg--highlight`).waitFor()
  assert.deepEqual(problems, { dialogs: [], errors: [] })
  await context.close()
})

test('a member removed from a chat stops finding its messages; the other still does', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const tag = Math.random().toString(36).slice(2, 8)
  const group = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Leaving', member_ids: [bob.id] } })
  await send(alice, group.id, `pulsar${tag} timing`)
  await indexed(bob, `pulsar${tag}`, 1)
  await api(`/chats/${group.id}/members/${bob.id}`, { method: 'DELETE', token: alice.token })

  const { page, context, problems } = await openPage(browser)
  await signIn(page, bob)
  await page.getByTestId('chat-filter').fill(`pulsar${tag}`)
  await page.getByTestId('search-empty').waitFor()
  assert.equal(await page.getByTestId('search-result').count(), 0)
  await indexed(alice, `pulsar${tag}`, 1)
  assert.deepEqual(problems, { dialogs: [], errors: [] })
  await context.close()
})
