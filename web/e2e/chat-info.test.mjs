// The chat info panel of API 1.1 "Chats and roles" across two users, each in a browser
// context of their own: rename, roles (mute — the muted user's composer is off and the
// server refuses their send —, unmute, promote), what each role is offered, removing and
// adding members, and the last admin's refused leave, with every change showing live on
// the other side.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, BASE_URL, chatItem, eventually, launchBrowser, messageByText, openChat, openPage, registerUser, screenshot,
  sendFromComposer, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

function member(page, user) {
  return page.locator(`[data-testid="chat-info"] [data-testid="member"][data-user-id="${user.id}"]`)
}

async function openInfo(page) {
  await page.getByTestId('chat-info-open').click()
  await page.getByTestId('chat-info').locator('[data-testid="member"]').first().waitFor()
}

async function closePanel(page) {
  await page.getByTestId('panel-close').click()
  await page.getByTestId('side-panel').waitFor({ state: 'detached' })
}

async function memberMenu(page, user) {
  await member(page, user).getByTestId('member-actions').click()
  await page.getByTestId('popup-menu').waitFor()
  return page.getByTestId('popup-menu').getByRole('menuitem').allTextContents().then((l) => l.map((s) => s.trim()))
}

async function pick(page, id) {
  await page.getByTestId('menu-' + id).click()
  await page.getByTestId('popup-menu').waitFor({ state: 'detached' })
}

async function roleIn(page, user, role) {
  await member(page, user).and(page.locator(`[data-role="${role}"]`)).waitFor()
}

test('chat info: rename, mute, promote, remove, add and the last admin across two users', { timeout: 240_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const carol = await registerUser('carol')
  const chat = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Team', member_ids: [bob.id, carol.id] } })
  const a = await openPage(browser)
  const b = await openPage(browser)
  await signIn(a.page, alice)
  await signIn(b.page, bob)
  for (const p of [a.page, b.page]) await openChat(p, chat.id)

  // The admin sees everything the role allows; the member nothing but leaving.
  await openInfo(a.page)
  await openInfo(b.page)
  assert.equal(await a.page.getByTestId('chat-info').getByTestId('member').count(), 3)
  await roleIn(a.page, alice, 'admin')
  await roleIn(a.page, bob, 'member')
  assert.equal(await a.page.getByTestId('chat-rename').count(), 1)
  assert.equal(await a.page.getByTestId('add-member').count(), 1)
  assert.equal(await member(a.page, alice).getByTestId('member-actions').count(), 0, 'nobody manages themselves here')
  assert.deepEqual(await memberMenu(a.page, bob), ['Make admin', 'Make moderator', 'Mute (read only)', 'Remove from group'])
  await a.page.keyboard.press('Escape')
  await a.page.getByTestId('popup-menu').waitFor({ state: 'detached' })
  assert.equal(await b.page.getByTestId('chat-info').getByTestId('member-actions').count(), 0)
  assert.equal(await b.page.getByTestId('chat-rename').count(), 0)
  assert.equal(await b.page.getByTestId('add-member').count(), 0)
  await b.page.getByTestId('leave-chat').waitFor()

  // Rename: the other side's panel, header and chat list follow.
  await a.page.getByTestId('chat-rename').click()
  await a.page.getByTestId('chat-title-input').fill('Team renamed')
  await a.page.getByTestId('chat-title-save').click()
  await a.page.getByTestId('chat-info-title').getByText('Team renamed', { exact: true }).waitFor()
  await b.page.getByTestId('chat-info-title').getByText('Team renamed', { exact: true }).waitFor()
  await b.page.getByTestId('chat-header-title').getByText('Team renamed', { exact: true }).waitFor()
  await chatItem(b.page, chat.id).getByTestId('chat-title').getByText('Team renamed').waitFor()

  // Mute: bob's panel tells him, and his message is refused.
  await memberMenu(a.page, bob)
  await pick(a.page, 'mute')
  await roleIn(a.page, bob, 'muted')
  await roleIn(b.page, bob, 'muted')
  await b.page.getByTestId('muted-note').waitFor()
  await closePanel(b.page)
  const composer = b.page.getByTestId('composer-input')
  await composer.and(b.page.locator(':disabled')).waitFor()
  assert.equal(await composer.getAttribute('placeholder'), 'You cannot send messages in this chat')
  const refused = await fetch(`${BASE_URL}/api/v1/chats/${chat.id}/messages`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bob.token}` },
    body: JSON.stringify({ text: 'can I still talk?', client_id: 'muted-try' }),
  })
  assert.equal(refused.status, 403, 'the server refuses a muted member too')

  // Unmute, then promote: a moderator may mute and remove members, nothing on admins.
  await memberMenu(a.page, bob)
  await pick(a.page, 'unmute')
  await roleIn(a.page, bob, 'member')
  await composer.and(b.page.locator(':enabled')).waitFor()
  await memberMenu(a.page, bob)
  await pick(a.page, 'make-moderator')
  await roleIn(a.page, bob, 'moderator')
  await openInfo(b.page)
  await roleIn(b.page, bob, 'moderator')
  await sendFromComposer(b.page, 'moderating now')
  await messageByText(a.page, 'moderating now').waitFor()
  assert.equal(await member(b.page, alice).getByTestId('member-actions').count(), 0, 'a moderator does nothing to admins')
  assert.deepEqual(await memberMenu(b.page, carol), ['Mute (read only)', 'Remove from group'])

  // The moderator removes carol (with a confirmation); both panels drop her.
  await pick(b.page, 'remove')
  await b.page.getByTestId('confirm-ok').click()
  await member(b.page, carol).waitFor({ state: 'detached' })
  await member(a.page, carol).waitFor({ state: 'detached' })
  await a.page.getByTestId('chat-info').getByText('2 members').waitFor()

  // The admin adds her back through the user search; bob sees her arrive.
  await a.page.getByTestId('add-member').click()
  await a.page.getByTestId('add-member-search').fill(carol.name)
  await a.page.locator(`[data-testid="add-member-result"][data-name="${carol.name}"]`).click()
  await roleIn(a.page, carol, 'member')
  await roleIn(b.page, carol, 'member')

  // The last admin: told before trying, refused (409) with the reason, still a member.
  await a.page.getByTestId('last-admin-note').waitFor()
  await screenshot(a.page, 'info-panel')
  await a.page.getByTestId('leave-chat').click()
  await a.page.getByTestId('confirm-ok').click()
  const error = a.page.getByTestId('chat-info-error')
  await error.waitFor()
  assert.match(await error.textContent(), /last admin/)
  const still = await api(`/chats/${chat.id}`, { token: alice.token })
  assert.equal(still.members.find((m) => m.user.id === alice.id)?.role, 'admin')

  // With bob made admin too, alice may leave: her list drops the chat, bob's panel drops her.
  await memberMenu(a.page, bob)
  await pick(a.page, 'make-admin')
  await roleIn(b.page, bob, 'admin')
  await a.page.getByTestId('last-admin-note').waitFor({ state: 'detached' })
  await a.page.getByTestId('leave-chat').click()
  await a.page.getByTestId('confirm-ok').click()
  await a.page.getByTestId('side-panel').waitFor({ state: 'detached' })
  await chatItem(a.page, chat.id).waitFor({ state: 'detached' })
  await member(b.page, alice).waitFor({ state: 'detached' })
  await eventually(async () => {
    const c = await api(`/chats/${chat.id}`, { token: bob.token })
    return !c.members.some((m) => m.user.id === alice.id)
  }, 'alice left')

  for (const x of [a, b]) assert.deepEqual(x.problems, { dialogs: [], errors: [] })
  await a.context.close()
  await b.context.close()
})
