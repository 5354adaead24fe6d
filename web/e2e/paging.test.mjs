// Scrolling up through a chat of 300 messages loads each one exactly once, keeps the
// view steady while older pages are prepended, and stops asking once has_more=false.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { directChat, eventually, history, launchBrowser, openChat, openPage, registerUser, screenshot, send, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('history of 300 messages pages up to the first one, exactly once each', { timeout: 240_000 }, async (t) => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(bob, alice)
  const N = 300
  for (let i = 1; i <= N; i++) {
    await send(i % 10 === 0 ? alice : bob, chat.id, `m${String(i).padStart(3, '0')}`)
  }

  // History is written by the persister shortly after each send is accepted.
  await eventually(async () => (await history(alice, chat.id)).length === N, 'all 300 messages in history', 60_000)

  const { page, context, problems } = await openPage(browser)
  const pages = []
  page.on('request', (req) => {
    const u = new URL(req.url())
    if (req.method() === 'GET' && u.pathname === `/api/v1/chats/${chat.id}/messages`) pages.push(Object.fromEntries(u.searchParams))
  })
  await signIn(page, alice)
  await openChat(page, chat.id)
  const list = page.getByTestId('message-list')
  await page.getByTestId('message-text').filter({ hasText: /^m300$/ }).waitFor()

  // Scroll to the top again and again, as a reader would, until the first message shows.
  const start = page.getByTestId('history-start')
  for (let round = 0; round < 40 && !(await start.isVisible()); round++) {
    const before = await page.getByTestId('message').count()
    // The message at the top of the view before paging; it must stay where it is.
    const anchor = await list.evaluate((el) => {
      el.scrollTop = 0
      const top = el.getBoundingClientRect().top
      const first = [...el.querySelectorAll('[data-mid]')].find((m) => m.getBoundingClientRect().bottom > top)
      return first ? { id: first.dataset.mid, offset: first.getBoundingClientRect().top - top } : null
    })
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="message"]').length > n || document.querySelector('[data-testid="history-start"]'),
      before,
    )
    await page.getByTestId('history-loading').waitFor({ state: 'detached' })
    if (anchor && (await page.getByTestId('message').count()) > before) {
      const offset = await list.evaluate((el, id) => {
        const m = el.querySelector(`[data-mid="${id}"]`)
        return m.getBoundingClientRect().top - el.getBoundingClientRect().top
      }, anchor.id)
      assert.ok(Math.abs(offset - anchor.offset) <= 2, `the view jumped by ${offset - anchor.offset}px when older messages were prepended`)
    }
  }
  await start.waitFor()
  await list.evaluate((el) => (el.scrollTop = 0))
  await screenshot(page, '09-history-start')

  // Every message once, in order.
  const texts = await page.getByTestId('message-text').allTextContents()
  const expected = Array.from({ length: N }, (_, i) => `m${String(i + 1).padStart(3, '0')}`)
  assert.deepEqual(texts, expected)
  const ids = await page.locator('[data-testid="message"][data-mid]').evaluateAll((els) => els.map((e) => e.dataset.mid))
  assert.equal(new Set(ids).size, N)

  // Each page asked for once: one newest page, then distinct "before" cursors.
  const befores = pages.filter((p) => p.before).map((p) => p.before)
  assert.equal(pages.filter((p) => !p.before && !p.after).length, 1, 'one newest page')
  assert.equal(new Set(befores).size, befores.length, `a page was requested twice: ${befores}`)
  const loadedPerPage = Number(pages[0].limit)
  assert.ok(befores.length >= Math.ceil((N - loadedPerPage) / 200), 'paged up')

  t.diagnostic(`history requests: ${pages.map((p) => new URLSearchParams(p).toString()).join(' | ')}`)

  // At the top with has_more=false: more scrolling asks for nothing. The list records
  // each paging decision (data-paging, counted in data-paging-checks); a request would
  // be decided in the scroll handler, so waiting for that scroll's decision replaces
  // waiting for a request that should never come.
  const count = pages.length
  for (let i = 0; i < 5; i++) {
    for (const top of [200, 0]) {
      const checks = Number((await list.getAttribute('data-paging-checks')) ?? 0)
      await list.evaluate((el, top) => (el.scrollTop = top), top)
      await page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="message-list"]').dataset.pagingChecks ?? 0) > n,
        checks,
      )
      assert.equal(await list.getAttribute('data-paging'), 'at-start', `paging decision at scrollTop ${top}`)
    }
  }
  assert.equal(pages.length, count, 'requests after has_more=false')

  assert.deepEqual(problems.errors, [])
  await context.close()
})
