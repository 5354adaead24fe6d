// User text is text: markup shows literally and never runs; long words wrap.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  chatItem, directChat, launchBrowser, messageByText, openChat, openPage, registerUser, screenshot,
  send, sendFromComposer, sentMessageId, signIn, waitLiveApplied,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('an XSS string renders literally and runs nothing; long words wrap', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  const xss = '<img src=x onerror=alert(1)>'
  // One arrives through history, one live, one typed by the user.
  await send(bob, chat.id, xss + ' from history')

  const A = await openPage(browser)
  await signIn(A.page, alice)
  const page = A.page
  await openChat(page, chat.id)
  await messageByText(page, xss + ' from history').waitFor()
  await send(bob, chat.id, '<script>alert("live")</script>')
  await messageByText(page, '<script>alert("live")</script>').waitFor()
  await sendFromComposer(page, xss)
  await messageByText(page, xss).and(page.locator('[data-status="sent"]')).waitFor()
  const long = 'W'.repeat(600)
  await sendFromComposer(page, long)
  // Everything is in once the last message's publication has been applied (a chat's
  // publications arrive in id order): the checks below see every copy of every message.
  await waitLiveApplied(page, await sentMessageId(page, long))

  assert.equal(await page.getByTestId('message-list').locator('img, script').count(), 0)
  const texts = await page.getByTestId('message-text').allTextContents()
  assert.ok(texts.includes(xss))
  assert.ok(texts.includes(xss + ' from history'))
  assert.match(await chatItem(page, chat.id).getByTestId('chat-preview').textContent(), /W{20}/)
  assert.deepEqual(A.problems.dialogs, [], 'no script ran')

  // The long word wraps inside its bubble: nothing overflows the pane sideways.
  const overflow = await page.getByTestId('message-list').evaluate((el) => el.scrollWidth - el.clientWidth)
  assert.ok(overflow <= 0, `horizontal overflow of ${overflow}px`)
  const bubble = await messageByText(page, long).locator('.bubble').boundingBox()
  const listBox = await page.getByTestId('message-list').boundingBox()
  assert.ok(bubble.x + bubble.width <= listBox.x + listBox.width, 'bubble inside the pane')
  await screenshot(page, '12-xss-literal-and-long-word')
  assert.deepEqual(A.problems.errors, [])
  await A.context.close()
})
