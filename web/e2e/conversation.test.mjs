// Two people in two browser contexts: sign up, start a chat, talk live, unread badges,
// session across reloads, phone layout, groups, sign out.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  BASE_URL, PASSWORD, api, chatItem, eventually, freshName, launchBrowser, messageByText,
  openChat, openPage, registerUser, screenshot, sendFromComposer, sentMessageId, signIn, waitConnected,
  waitLiveApplied,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('alice and bob hold a live conversation with correct unread badges', { timeout: 180_000 }, async () => {
  const bob = await registerUser('bob')
  const aliceName = freshName('alice')

  const A = await openPage(browser)
  const B = await openPage(browser)
  const alice = A.page
  const bobPage = B.page

  // Alice signs up through the form.
  await alice.goto(BASE_URL + '/')
  await alice.getByTestId('auth-form').waitFor()
  await screenshot(alice, '01-sign-in')
  await alice.getByTestId('auth-tab-signup').click()
  await alice.getByTestId('auth-name').fill(aliceName)
  await alice.getByTestId('auth-password').fill(PASSWORD)
  await alice.getByTestId('auth-submit').click()
  await waitConnected(alice)
  assert.equal(await alice.getByTestId('me-name').textContent(), aliceName)

  // Bob signs in through the form.
  await signIn(bobPage, bob)

  // Alice finds bob by a prefix of his name and starts a direct chat.
  await alice.getByTestId('new-chat').click()
  await alice.getByTestId('user-search').fill(bob.name.slice(0, 7))
  const result = alice.locator(`[data-testid="user-result"][data-name="${bob.name}"]`)
  await result.waitFor()
  await screenshot(alice, '02-new-chat-dialog')
  await result.click()
  const pane = alice.getByTestId('chat-pane')
  await pane.waitFor()
  const chatId = Number(await pane.getAttribute('data-chat-id'))
  assert.ok(chatId > 0)
  assert.equal((await alice.getByTestId('chat-header-title').textContent()).trim(), bob.name)

  const hello = 'Hello Bob! How are you?'
  await sendFromComposer(alice, hello)
  await messageByText(alice, hello).and(alice.locator('[data-status="sent"]')).waitFor()

  // Bob sees the new chat appear live, with the message preview and an unread badge.
  const item = chatItem(bobPage, chatId)
  await item.waitFor()
  await eventually(async () => (await item.getByTestId('unread-badge').textContent())?.trim() === '1', 'badge 1 on bob’s list')
  assert.match(await item.getByTestId('chat-preview').textContent(), /Hello Bob!/)
  assert.equal((await item.getByTestId('chat-title').textContent()).trim(), aliceName)
  assert.match((await item.getByTestId('chat-time').textContent()).trim(), /^\d\d:\d\d$/)
  await screenshot(bobPage, '03-list-with-unread-badge')

  // Bob opens it: the message is there under a "new messages" divider, and once it has
  // been on screen the badge goes away — in the UI and on the server.
  await openChat(bobPage, chatId)
  await messageByText(bobPage, hello).waitFor()
  await bobPage.getByTestId('unread-divider').waitFor()
  await item.getByTestId('unread-badge').waitFor({ state: 'detached' })
  await eventually(async () => {
    const { chats } = await api('/chats', { token: bob.token })
    return chats.find((c) => c.id === chatId)?.unread_count === 0
  }, 'server-side unread count 0 for bob')

  // Bob replies with two lines (Shift+Enter); alice sees it live in the open chat.
  const input = bobPage.getByTestId('composer-input')
  await input.fill('Hi Alice!')
  await input.press('Shift+Enter')
  await input.type('All good here.')
  await input.press('Enter')
  const reply = alice.getByTestId('message-text').filter({ hasText: 'All good here.' })
  await reply.waitFor()
  assert.equal(await reply.evaluate((el) => el.textContent), 'Hi Alice!\nAll good here.')
  // Alice had the chat open at the bottom: it counts as read, no badge.
  await eventually(async () => {
    const { chats } = await api('/chats', { token: (await sessionToken(alice)) })
    return chats.find((c) => c.id === chatId)?.unread_count === 0
  }, 'alice read bob’s reply')
  assert.equal(await chatItem(alice, chatId).getByTestId('unread-badge').count(), 0)

  // A few more messages live, each shown once on both sides.
  for (let i = 1; i <= 3; i++) await sendFromComposer(alice, `ping ${i}`)
  for (let i = 1; i <= 3; i++) await messageByText(bobPage, `ping ${i}`).waitFor()
  // Alice has each ping from her send's answer, bob from its publication; the copy that
  // could make a duplicate is the publication on alice's side and any catch-up page on
  // bob's. Once both panes have applied the last ping's publication, all have arrived.
  const lastPing = await sentMessageId(alice, 'ping 3')
  await waitLiveApplied(alice, lastPing)
  await waitLiveApplied(bobPage, lastPing)
  for (let i = 1; i <= 3; i++) {
    assert.equal(await messageByText(bobPage, `ping ${i}`).count(), 1)
    assert.equal(await messageByText(alice, `ping ${i}`).count(), 1)
  }
  assert.equal(await alice.locator('[data-testid="message"][data-own="true"]').count(), 4)
  await screenshot(alice, '04-chat-alice')
  await screenshot(bobPage, '05-chat-bob')

  // The session survives a reload.
  await bobPage.reload()
  await waitConnected(bobPage)
  assert.equal(await bobPage.getByTestId('me-name').textContent(), bob.name)
  await messageByText(bobPage, 'ping 3').waitFor()

  // Phone width: one column; the back button returns to the list.
  await alice.setViewportSize({ width: 390, height: 844 })
  assert.equal(await alice.getByTestId('sidebar').isVisible(), false)
  await screenshot(alice, '06-phone-chat')
  await alice.getByTestId('back').click()
  await alice.getByTestId('sidebar').waitFor({ state: 'visible' })
  assert.equal(await alice.getByTestId('chat-pane').count(), 0)
  await screenshot(alice, '07-phone-list')
  await openChat(alice, chatId)
  assert.equal(await alice.getByTestId('sidebar').isVisible(), false)
  await alice.setViewportSize({ width: 1280, height: 800 })

  // A group: bob sees it appear live.
  const title = 'Weekend ' + freshName('g').slice(2)
  await alice.getByTestId('new-chat').click()
  await alice.getByTestId('mode-group').click()
  await alice.getByTestId('group-title').fill(title)
  await alice.getByTestId('user-search').fill(bob.name)
  await alice.locator(`[data-testid="user-result"][data-name="${bob.name}"]`).click()
  await alice.getByTestId('create-group').click()
  await alice.getByTestId('chat-header-title').filter({ hasText: title }).waitFor()
  await sendFromComposer(alice, 'Who is in for Saturday?')
  const groupItem = bobPage.locator('[data-testid="chat-item"]').filter({ hasText: title })
  await groupItem.waitFor()
  await eventually(async () => (await groupItem.getByTestId('chat-preview').textContent()).includes('Who is in for Saturday?'), 'group preview on bob’s list')
  await screenshot(bobPage, '08-group-live')

  // Sign out clears the session: a reload stays on the sign-in form, and the
  // token it held is refused by the server from then on (POST /auth/logout).
  const bobsToken = await sessionToken(bobPage)
  await bobPage.getByTestId('sign-out').click()
  await bobPage.getByTestId('auth-form').waitFor()
  await bobPage.reload()
  await bobPage.getByTestId('auth-form').waitFor()
  assert.equal(await bobPage.evaluate(() => localStorage.getItem('logchat.session')), null)
  await eventually(async () => {
    try {
      await api('/me', { token: bobsToken })
      return false
    } catch (err) {
      return /: 401 /.test(String(err))
    }
  }, 'the signed-out token refused')

  assert.deepEqual(A.problems.errors, [])
  assert.deepEqual(B.problems.errors, [])
  await A.context.close()
  await B.context.close()
})

/** The token of the session a page holds. */
async function sessionToken(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('logchat.session')).token)
}
