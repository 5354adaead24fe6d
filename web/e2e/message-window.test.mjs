// The message window: following new messages, the jump button and its counter, the
// "new messages" divider for what arrives while the user reads above; drafts and failed
// messages that survive a chat switch and a reload, and go out by themselves when the
// connection comes back.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, directChat, eventually, history, inListView, launchBrowser, messageByText, openChat, openPage, registerUser,
  screenshot, send, sendFromComposer, sentMessageId, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

/** Where the message list is scrolled, and whether a message is inside its visible part. */
function listState(page) {
  return page.getByTestId('message-list').evaluate((el) => ({
    top: el.scrollTop,
    fromBottom: el.scrollHeight - el.scrollTop - el.clientHeight,
  }))
}

const inView = (page, text) => inListView(messageByText(page, text))

test('new messages follow at the bottom; above, a counter and a divider; an own send always jumps to it', { timeout: 180_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(bob, alice)
  let last
  for (let i = 1; i <= 40; i++) last = await send(bob, chat.id, `history ${i}`)
  await eventually(async () => (await history(alice, chat.id)).length === 40, 'seeded history')
  // Everything read: the chat opens at the bottom, with no divider.
  await api(`/chats/${chat.id}/read`, { method: 'POST', token: alice.token, body: { message_id: last.id } })

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await openChat(page, chat.id)
  await messageByText(page, 'history 40').waitFor()
  await eventually(async () => (await listState(page)).fromBottom < 80, 'opened at the bottom')
  assert.equal(await page.getByTestId('unread-divider').count(), 0)

  // At the bottom: a new message scrolls into view.
  await send(bob, chat.id, 'arrives at the bottom')
  await messageByText(page, 'arrives at the bottom').waitFor()
  await eventually(() => inView(page, 'arrives at the bottom'), 'the new message scrolled into view')
  assert.ok((await listState(page)).fromBottom < 80)

  // Scrolled up: new messages stay below, counted on the jump button, after a divider.
  await page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: 0 }))
  const jump = page.getByTestId('jump-bottom')
  await jump.waitFor()
  await send(bob, chat.id, 'while reading above 1')
  await send(bob, chat.id, 'while reading above 2')
  await messageByText(page, 'while reading above 2').waitFor()
  await eventually(async () => (await jump.textContent()).trim() === '2', 'the jump button counts 2')
  assert.equal((await listState(page)).top, 0, 'the view stayed where the user reads')
  assert.equal(await inView(page, 'while reading above 1'), false)
  const divider = page.getByTestId('unread-divider')
  await divider.waitFor()
  const afterDivider = await divider.evaluate((d) => d.nextElementSibling?.querySelector('[data-testid="message-text"]')?.textContent)
  assert.equal(afterDivider, 'while reading above 1', 'the divider stands before the first new message')
  await screenshot(page, 'window-scrolled-up')

  // The user's own send, still scrolled up: the view jumps to it.
  await sendFromComposer(page, 'my own, from above')
  await sentMessageId(page, 'my own, from above')
  await eventually(() => inView(page, 'my own, from above'), 'the own message in view')
  await eventually(async () => (await jump.count()) === 0, 'at the bottom, no jump button')

  // Scrolled up again, the jump button brings the newest message and clears the counter.
  await page.getByTestId('message-list').evaluate((el) => el.scrollTo({ top: 0 }))
  await send(bob, chat.id, 'one more')
  await eventually(async () => (await jump.textContent()).trim() === '1', 'counter 1')
  await jump.click()
  await eventually(() => inView(page, 'one more'), 'jumped to the newest')
  await eventually(async () => (await jump.count()) === 0, 'jump button gone')

  assert.deepEqual(problems.errors, [])
  await context.close()
})

test('drafts and failed messages survive a chat switch and a reload; failures go out when the connection is back', { timeout: 180_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const carol = await registerUser('carol')
  const withBob = await directChat(alice, bob)
  const withCarol = await directChat(alice, carol)
  await send(bob, withBob.id, 'hi alice')
  await send(carol, withCarol.id, 'hello from carol')

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await openChat(page, withBob.id)
  await messageByText(page, 'hi alice').waitFor()

  // Sends to bob's chat fail: the network is gone for them.
  const sendUrl = `**/api/v1/chats/${withBob.id}/messages`
  const posts = []
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith(`/chats/${withBob.id}/messages`)) posts.push(JSON.parse(req.postData()).client_id)
  })
  const failNetwork = (route) => (route.request().method() === 'POST' ? route.abort('internetdisconnected') : route.continue())
  await page.route(sendUrl, failNetwork)
  await sendFromComposer(page, 'this one failed')
  const failed = messageByText(page, 'this one failed')
  await failed.and(page.locator('[data-status="failed"]')).waitFor()
  const input = page.getByTestId('composer-input')
  await input.fill('a draft for bob')

  // Another chat, its own draft; then back: both drafts and the failed message are there.
  await openChat(page, withCarol.id)
  await messageByText(page, 'hello from carol').waitFor()
  assert.equal(await input.inputValue(), '')
  await input.fill('a draft for carol')
  await openChat(page, withBob.id)
  await messageByText(page, 'hi alice').waitFor()
  assert.equal(await input.inputValue(), 'a draft for bob')
  await failed.and(page.locator('[data-status="failed"]')).waitFor()
  await screenshot(page, 'window-failed-kept')

  // A reload keeps them too (localStorage, per user). Sends still fail meanwhile.
  await page.reload()
  await page.locator(`[data-testid="chat-pane"][data-chat-id="${withBob.id}"]`).waitFor()
  await failed.and(page.locator('[data-status="failed"]')).waitFor()
  assert.equal(await input.inputValue(), 'a draft for bob')
  await openChat(page, withCarol.id)
  assert.equal(await input.inputValue(), 'a draft for carol')
  await openChat(page, withBob.id)

  // The connection comes back: the failed message goes out by itself, with its client_id.
  await page.unroute(sendUrl)
  await context.setOffline(true)
  await context.setOffline(false)
  await messageByText(page, 'this one failed').and(page.locator('[data-status="sent"]')).waitFor()
  assert.ok(posts.length >= 2, 'sent again')
  assert.equal(new Set(posts).size, 1, 'every attempt with the same client_id')
  await eventually(async () => (await history(bob, withBob.id)).filter((m) => m.text === 'this one failed').length === 1, 'delivered once')
  // The draft is still a draft.
  assert.equal(await input.inputValue(), 'a draft for bob')

  assert.deepEqual(problems.errors, [])
  await context.close()
})
