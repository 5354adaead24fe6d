// A send while the gateway cannot be reached shows "failed"; retry delivers it once.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  directChat, eventually, history, launchBrowser, messageByText, openChat, openPage, registerUser,
  screenshot, send, sendFromComposer, sentMessageId, signIn, waitLiveApplied,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('a message sent while the gateway is unreachable fails, and retry delivers it once', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  await send(bob, chat.id, 'are you there?')

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  await openChat(page, chat.id)
  await messageByText(page, 'are you there?').waitFor()

  // The gateway is unreachable for sends: the request never reaches it.
  const sendUrl = `**/api/v1/chats/${chat.id}/messages`
  const posts = []
  await page.route(sendUrl, (route) => {
    if (route.request().method() !== 'POST') return route.continue()
    posts.push(JSON.parse(route.request().postData()))
    return route.abort('internetdisconnected')
  })
  const text = 'sent while offline'
  await sendFromComposer(page, text)
  const failed = messageByText(page, text)
  await failed.and(page.locator('[data-status="failed"]')).waitFor()
  await failed.getByTestId('message-retry').waitFor()
  await screenshot(page, '10-send-failed')
  assert.equal((await history(alice, chat.id)).filter((m) => m.text === text).length, 0)

  // Back online: retry sends the same client_id and the message is delivered once.
  await page.unroute(sendUrl)
  const retried = []
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith(`/chats/${chat.id}/messages`)) retried.push(JSON.parse(req.postData()))
  })
  await failed.getByTestId('message-retry').click()
  await messageByText(page, text).and(page.locator('[data-status="sent"]')).waitFor()
  assert.equal(retried.length, 1)
  assert.equal(retried[0].client_id, posts[0].client_id, 'retry reuses the client_id')
  await eventually(async () => (await history(bob, chat.id)).filter((m) => m.text === text).length === 1, 'delivered once')
  // The realtime copy arrives after the answer; once it is applied, both copies are in.
  await waitLiveApplied(page, await sentMessageId(page, text))
  assert.equal(await messageByText(page, text).count(), 1)
  await screenshot(page, '11-send-retried')

  assert.deepEqual(problems.errors, [])
  await context.close()
})

test('a send whose answer is lost is retried without a duplicate', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)

  const { page, context } = await openPage(browser)
  await signIn(page, alice)
  await openChat(page, chat.id)
  await page.getByTestId('messages-empty').waitFor()

  // The gateway accepts the message, but its answer never reaches the browser.
  const sendUrl = `**/api/v1/chats/${chat.id}/messages`
  await page.route(sendUrl, async (route) => {
    if (route.request().method() !== 'POST') return route.continue()
    await route.fetch()
    return route.abort('connectionreset')
  })
  const text = 'answer lost on the way'
  await sendFromComposer(page, text)
  const msg = messageByText(page, text)
  // Either it shows "failed", or the realtime publication already brought the server copy.
  await eventually(async () => (await msg.getAttribute('data-status')) !== 'sending', 'send settled')
  await page.unroute(sendUrl)
  if ((await msg.getAttribute('data-status')) === 'failed') await msg.getByTestId('message-retry').click()
  // The server copy came from the retry's answer or from the publication; wait for the
  // publication either way, so that both are in before counting.
  await waitLiveApplied(page, await sentMessageId(page, text))
  assert.equal(await messageByText(page, text).count(), 1)
  assert.equal((await history(bob, chat.id)).filter((m) => m.text === text).length, 1)
  await context.close()
})
