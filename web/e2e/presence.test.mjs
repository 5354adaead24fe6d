// Presence (API 1.1 "Typing and presence") across two users in real browsers against the
// real stack: a direct chat's header and the profile panel say "online" while the other
// person has a connection, "last seen just now" the moment it closes (live, from
// presence.updated), and the relative time moves on as time passes.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, directChat, eventually, launchBrowser, openChat, openPage, registerUser, screenshot, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

const subtitle = (page) => page.getByTestId('chat-header-subtitle')

async function headerSays(page, text, timeout = 30_000) {
  await eventually(async () => (await subtitle(page).textContent()).trim() === text, `the header says "${text}"`, timeout)
}

test('online and last seen, live, in a direct chat’s header and the profile panel', { timeout: 240_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)

  // Bob is not connected yet: never seen, so nothing is said.
  const a = await openPage(browser)
  // Alice's clock is Playwright's: it runs as usual until the test moves it forward.
  await a.context.clock.install()
  await signIn(a.page, alice)
  await openChat(a.page, chat.id)
  await a.page.locator(`[data-testid="chat-pane"][data-chat-id="${chat.id}"][data-signals="live"]`).waitFor()
  assert.equal((await api(`/users/${bob.id}`, { token: alice.token })).online, false)
  await eventually(async () => (await subtitle(a.page).getAttribute('data-kind')) === 'none', 'nothing about bob yet')

  // Bob connects: online, live.
  const b = await openPage(browser)
  await signIn(b.page, bob)
  await headerSays(a.page, 'online')
  assert.equal(await subtitle(a.page).getAttribute('data-kind'), 'online')
  await screenshot(a.page, 'presence-online')

  // The chat's info and his profile panel say it too.
  await a.page.getByTestId('chat-info-open').click()
  await eventually(async () => (await a.page.getByTestId('chat-info-sub').textContent()).trim() === 'online', 'the chat info says online')
  await a.page.getByTestId('chat-info-profile').click()
  const lastSeen = a.page.getByTestId('profile-last-seen')
  await eventually(async () => (await lastSeen.textContent()).trim() === 'online', 'the profile says online')
  assert.equal(await lastSeen.getAttribute('data-online'), 'true')

  // Bob closes his only connection: "last seen just now", live in both places.
  await b.context.close()
  await eventually(async () => (await lastSeen.textContent()).trim() === 'last seen just now', 'the profile says last seen just now', 30_000)
  const profile = await api(`/users/${bob.id}`, { token: alice.token })
  assert.equal(profile.online, false)
  assert.ok(profile.last_seen_at, 'the server has his last-seen time')
  await screenshot(a.page, 'presence-profile')
  await a.page.keyboard.press('Escape')
  await headerSays(a.page, 'last seen just now')

  // Five minutes later, without anything else happening, the labels move on.
  await a.page.clock.fastForward('05:00')
  await headerSays(a.page, 'last seen 5 minutes ago', 60_000)
  await screenshot(a.page, 'presence-last-seen')

  // Back online.
  const b2 = await openPage(browser)
  await signIn(b2.page, bob)
  await headerSays(a.page, 'online')

  assert.deepEqual(a.problems, { dialogs: [], errors: [] })
  await a.context.close()
  await b2.context.close()
})

test('last seen: nobody hides it from the other person', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  await api('/me/privacy', { method: 'PATCH', token: bob.token, body: { last_seen: 'nobody' } })
  const b = await openPage(browser)
  await signIn(b.page, bob)
  const a = await openPage(browser)
  await signIn(a.page, alice)
  await openChat(a.page, chat.id)
  await a.page.locator(`[data-testid="chat-pane"][data-chat-id="${chat.id}"][data-signals="live"]`).waitFor()
  const p = await api(`/users/${bob.id}`, { token: alice.token })
  assert.deepEqual([p.online, p.last_seen_at], [false, null])
  // Alice's page has read his profile (the same answer): nothing is said.
  await eventually(async () => (await subtitle(a.page).getAttribute('data-kind')) === 'none', 'nothing about bob')
  await b.context.close()
  await a.context.close()
})
