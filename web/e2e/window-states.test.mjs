// The states around the message window: a chat list that fails to load, a bad token, an
// unknown chat, a filter with no match, Enter on a touch screen, right-to-left text, and
// the day label on a phone.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  BASE_URL, api, chatItem, directChat, launchBrowser, messageByText, openChat, openPage, registerUser,
  screenshot, send, sentMessageId, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('a chat list that fails to load says so, with a Retry that loads it', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  const { page, context, problems } = await openPage(browser)
  let failing = true
  await page.route('**/api/v1/chats?*', (route) =>
    failing && route.request().method() === 'GET'
      ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'redis down' } }) })
      : route.continue(),
  )
  await signIn(page, alice)
  const error = page.getByTestId('chat-list-error')
  await error.waitFor()
  const text = await error.textContent()
  assert.match(text, /Could not load your chats\. The service is temporarily unavailable/)
  assert.doesNotMatch(text, /redis down/, 'no raw server message')
  failing = false
  await page.getByTestId('chat-list-retry').click()
  await chatItem(page, chat.id).waitFor()
  assert.equal(await error.count(), 0)
  assert.deepEqual(problems.errors, [])
  await context.close()
})

test('a bad token: one notice, then the sign-in screen', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const { page, context } = await openPage(browser)
  await page.goto(BASE_URL + '/')
  await page.evaluate((u) => localStorage.setItem('logchat.session', JSON.stringify({ token: 'not-a-token', user: { id: u.id, name: u.name } })), alice)
  // Every request this page makes with the token has been answered once the sign-in
  // screen is up and the notice shown: count the 401s to know nothing is still on its way.
  const refused = []
  page.on('response', (r) => r.status() === 401 && refused.push(r.url()))
  await page.reload()
  await page.getByTestId('auth-form').waitFor()
  const notices = page.getByTestId('notice')
  await notices.first().waitFor()
  assert.ok(refused.length >= 1)
  // Requests still on their way when the session ended answer 401 too; once the network
  // is idle they all have, and any notice they could add would be there.
  await page.waitForLoadState('networkidle')
  assert.deepEqual(await notices.allTextContents(), ['Your session has ended. Please sign in again.×'])
  await context.close()
})

test('an unknown chat says "Chat not found" with a way back; a filter with no match says so', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await page.goto(BASE_URL + '/#/chat/987654321')
  await page.getByTestId('chat-not-found').waitFor()
  assert.equal(await page.getByTestId('chat-header-title').textContent(), 'Chat not found')
  await screenshot(page, 'chat-not-found')
  await page.getByTestId('back-to-chats').click()
  await page.waitForURL((u) => !u.hash.includes('/chat/'))
  await chatItem(page, chat.id).waitFor()

  await page.getByTestId('chat-filter').fill('zzz-nobody')
  const none = page.getByTestId('chat-list-no-match')
  await none.waitFor()
  assert.equal((await none.textContent()).trim(), 'No chats match “zzz-nobody”')
  assert.equal(await page.getByTestId('chat-list-empty').count(), 0)
  assert.deepEqual(problems.errors, [])
  await context.close()
})

test('on a touch screen Enter is a new line and the button sends; on a desktop Enter sends', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true })
  const page = await phone.newPage()
  await signIn(page, alice)
  assert.equal(await page.evaluate(() => matchMedia('(pointer: coarse)').matches), true)
  await openChat(page, chat.id)
  const input = page.getByTestId('composer-input')
  await input.click()
  await input.pressSequentially('line one')
  await input.press('Enter')
  await input.pressSequentially('line two')
  assert.equal(await input.inputValue(), 'line one\nline two')
  assert.equal(await page.getByTestId('message').count(), 0, 'Enter sent nothing')
  await page.getByTestId('composer-send').click()
  await sentMessageId(page, 'line one\nline two')
  await phone.close()

  const { page: desk, context } = await openPage(browser)
  await signIn(desk, alice)
  await openChat(desk, chat.id)
  const box = desk.getByTestId('composer-input')
  await box.pressSequentially('first')
  await box.press('Shift+Enter')
  await box.pressSequentially('second')
  await box.press('Enter')
  await sentMessageId(desk, 'first\nsecond')
  assert.equal(await box.inputValue(), '')
  await context.close()
})

test('right-to-left text runs right to left; on a phone the day label covers no time', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  const hebrew = 'שלום, מה שלומך היום?'
  await send(bob, chat.id, hebrew)
  // Bubbles that end mid-screen on a phone, where their time meets a centred label.
  for (let i = 1; i <= 30; i++) await send(bob, chat.id, `${i} ` + 'ab '.repeat(i % 15))
  const { page, context } = await openPage(browser, { width: 390, height: 700 })
  await signIn(page, alice)
  await openChat(page, chat.id)
  const text = messageByText(page, hebrew).getByTestId('message-text')
  await text.waitFor()
  assert.equal(await text.evaluate((el) => getComputedStyle(el).direction), 'rtl')
  assert.equal(await text.evaluate((el) => el.matches(':dir(rtl)')), true)
  // Its time sits at the end of its last line: on the left.
  const side = await messageByText(page, hebrew).evaluate((node) => {
    const b = node.querySelector('.bubble').getBoundingClientRect()
    const t = node.querySelector('.bubble__time').getBoundingClientRect()
    return t.left - b.left < b.right - t.right ? 'left' : 'right'
  })
  assert.equal(side, 'left')
  const input = page.getByTestId('composer-input')
  await input.fill('مرحبا')
  assert.equal(await input.evaluate((el) => el.matches(':dir(rtl)')), true)
  await input.fill('')

  // Scrolled into the middle of the day: no stuck label over a message's time.
  await page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: el.scrollHeight / 2 }))
  const overlaps = () => page.evaluate(() => {
    const labels = [...document.querySelectorAll('.day-sep span')].map((s) => s.getBoundingClientRect())
    const times = [...document.querySelectorAll('.bubble__time')].map((t) => t.getBoundingClientRect())
    return times.filter((t) => labels.some((l) => l.left < t.right && t.left < l.right && l.top < t.bottom && t.top < l.bottom)).length
  })
  assert.equal(await overlaps(), 0)
  await screenshot(page, 'phone-rtl')
  // The check can fail: with the label stuck at the top, as on a desktop, it covers a time.
  await page.evaluate(() => document.querySelectorAll('.day-sep').forEach((el) => (el.style.position = 'sticky')))
  let covered = 0
  const list = page.getByTestId('message-list')
  const max = await list.evaluate((el) => el.scrollHeight - el.clientHeight)
  for (let y = 0; y <= max && covered === 0; y += 5) {
    await list.evaluate((el, y) => el.scrollTo({ top: y }), y)
    covered = await overlaps()
  }
  assert.ok(covered > 0, 'a stuck label would cover a time')
  await context.close()
})
