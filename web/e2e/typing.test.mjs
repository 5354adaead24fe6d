// Typing indicators (API 1.1 "Typing and presence") across users in real browsers
// against the real stack: what bob types in his composer shows as "bob is typing…" in
// alice's header and chat list, several people are named or counted, an indicator ends
// when the message arrives or a few seconds after the last keystroke, and the composer
// tells the server at most every 3 s.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, chatItem, eventually, launchBrowser, messageByText, openChat, openPage, registerUser, screenshot, sendFromComposer, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

const subtitle = (page) => page.getByTestId('chat-header-subtitle')

async function subtitleIs(page, text) {
  await eventually(async () => (await subtitle(page).textContent()).trim() === text, `header says "${text}"`, 20_000)
}

test('typing shows in the header and the chat list, names several, ends with the message or by itself', { timeout: 240_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const carol = await registerUser('carol')
  const dave = await registerUser('dave')
  const group = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Typists', member_ids: [bob.id, carol.id, dave.id] } })
  const other = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Elsewhere', member_ids: [bob.id] } })

  const a = await openPage(browser)
  const b = await openPage(browser)
  await signIn(a.page, alice)
  await signIn(b.page, bob)
  await openChat(a.page, group.id)
  await subtitleIs(a.page, '4 members')
  // Typing is ephemeral: only a subscribed channel hears it.
  await a.page.locator(`[data-testid="chat-pane"][data-chat-id="${group.id}"][data-signals="live"]`).waitFor()
  await openChat(b.page, group.id)

  // Bob's typing requests, counted at the browser.
  const typingCalls = []
  b.page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === `/api/v1/chats/${group.id}/typing`) typingCalls.push(Date.now())
  })

  // Bob types in his composer: alice's header and her chat list row say so.
  const input = b.page.getByTestId('composer-input')
  const startedTyping = Date.now()
  await input.pressSequentially('hello every', { delay: 40 })
  await subtitleIs(a.page, `${bob.name} is typing…`)
  const row = chatItem(a.page, group.id)
  await eventually(async () => (await row.getByTestId('chat-typing').textContent()) === `${bob.name} is typing…`, 'the list row says it')
  assert.equal(await row.getByTestId('chat-preview').count(), 0, 'the typing line replaces the preview')
  // Another chat's row is not affected.
  assert.equal(await chatItem(a.page, other.id).getByTestId('chat-typing').count(), 0)

  // Two, then three others (carol and dave through the API).
  await api(`/chats/${group.id}/typing`, { method: 'POST', token: carol.token })
  await subtitleIs(a.page, `${bob.name} and ${carol.name} are typing…`)
  await api(`/chats/${group.id}/typing`, { method: 'POST', token: dave.token })
  await subtitleIs(a.page, `${bob.name} and 2 others are typing…`)
  await eventually(async () => (await row.getByTestId('chat-typing').textContent()) === `${bob.name} and 2 others are typing…`, 'the row too')
  await screenshot(a.page, 'typing')

  // Bob keeps typing for a while: at most one request every 3 s (the first at once).
  await input.pressSequentially('one, this is a longer line', { delay: 120 })
  const typedFor = Date.now() - startedTyping
  assert.ok(typingCalls.length >= 1, 'the composer told the server')
  assert.ok(typingCalls.length <= 1 + Math.floor(typedFor / 3000), `${typingCalls.length} typing requests in ${typedFor} ms of typing`)
  for (let i = 1; i < typingCalls.length; i++) {
    assert.ok(typingCalls[i] - typingCalls[i - 1] >= 2900, `requests ${typingCalls[i] - typingCalls[i - 1]} ms apart`)
  }

  // His message ends his indicator at once; the others stay until their time is over.
  await input.press('Enter')
  await messageByText(a.page, 'hello everyone, this is a longer line').waitFor()
  await eventually(async () => !(await subtitle(a.page).textContent()).includes(bob.name), 'bob is no longer typing')
  // Carol and dave typed once, more than a moment ago: within about 5 s they are gone too.
  await subtitleIs(a.page, '4 members')
  await eventually(async () => (await row.getByTestId('chat-typing').count()) === 0, 'the row shows the last message again')
  assert.match(await row.getByTestId('chat-preview').textContent(), /hello everyone/)

  // The one typing does not see their own indicator.
  assert.equal((await subtitle(b.page).textContent()).trim(), '4 members')

  // A direct chat's header says it too.
  const direct = await api('/chats', { method: 'POST', token: alice.token, body: { member_ids: [bob.id] } })
  await openChat(a.page, direct.id)
  await a.page.locator(`[data-testid="chat-pane"][data-chat-id="${direct.id}"][data-signals="live"]`).waitFor()
  await api(`/chats/${direct.id}/typing`, { method: 'POST', token: bob.token })
  await subtitleIs(a.page, `${bob.name} is typing…`)
  await screenshot(a.page, 'typing-direct')

  for (const x of [a, b]) assert.deepEqual(x.problems, { dialogs: [], errors: [] })
  await a.context.close()
  await b.context.close()
})

test('typing in a chat that is not open shows in its row of the list', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Not open', member_ids: [bob.id] } })
  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  const row = chatItem(page, chat.id)
  // The row's channel is subscribed once the row is in view.
  await page.locator(`[data-testid="chat-item"][data-chat-id="${chat.id}"][data-signals="live"]`).waitFor()
  await api(`/chats/${chat.id}/typing`, { method: 'POST', token: bob.token })
  await row.getByTestId('chat-typing').waitFor()
  assert.equal(await row.getByTestId('chat-typing').textContent(), `${bob.name} is typing…`)
  assert.equal(await page.getByTestId('chat-pane').count(), 0, 'no chat is open')
  assert.deepEqual(problems, { dialogs: [], errors: [] })
  await context.close()
})
