// The message menu of API 1.1 across two users, each in a browser context of their own:
// reply, edit, delete for everyone and for me, forward, copy, and clearing a history.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, BASE_URL, chatItem, directChat, eventually, history, inListView, launchBrowser, messageByText, openChat, openPage,
  registerUser, screenshot, send, sendFromComposer, sentMessageId, signIn, waitLiveApplied,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

/** Opens the menu of the message with this text by a right click on its bubble. */
async function openMenu(page, text) {
  await messageByText(page, text).locator('.bubble').click({ button: 'right' })
  await page.getByTestId('popup-menu').waitFor()
}

async function menuItems(page) {
  return page.getByTestId('popup-menu').getByRole('menuitem').allTextContents().then((l) => l.map((s) => s.trim()))
}

async function pick(page, id) {
  await page.getByTestId('menu-' + id).click()
  await page.getByTestId('popup-menu').waitFor({ state: 'detached' })
}

/** Both users signed in, each with the chat open. */
async function twoUsers(chatOf = directChat) {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await chatOf(alice, bob)
  const a = await openPage(browser)
  const b = await openPage(browser)
  await signIn(a.page, alice)
  await signIn(b.page, bob)
  return { alice, bob, chat, a, b }
}

test('reply: the composer quotes the message; both users see the quote; a quote leads to its original', { timeout: 180_000 }, async () => {
  const { alice, bob, chat, a, b } = await twoUsers()
  await send(bob, chat.id, 'what time tomorrow?\nsecond line')
  for (const p of [a.page, b.page]) await openChat(p, chat.id)
  await messageByText(a.page, 'what time tomorrow?\nsecond line').waitFor()

  await openMenu(a.page, 'what time tomorrow?\nsecond line')
  assert.deepEqual(await menuItems(a.page), ['Reply', 'Copy text', 'Forward', 'Delete for me'])
  await screenshot(a.page, 'menu')
  await pick(a.page, 'reply')
  const context = a.page.getByTestId('composer-reply')
  await context.waitFor()
  assert.match(await context.textContent(), /Reply to bob_\w+\s*what time tomorrow\?/)
  await sendFromComposer(a.page, 'at ten')
  await sentMessageId(a.page, 'at ten')
  assert.equal(await context.count(), 0, 'the reply is done')

  for (const p of [a.page, b.page]) {
    const quote = messageByText(p, 'at ten').getByTestId('message-quote')
    await quote.waitFor()
    assert.equal((await quote.locator('.bubble__quote-author').textContent()).trim(), bob.name)
    assert.equal((await quote.locator('.bubble__quote-text').textContent()).trim(), 'what time tomorrow?', 'the first line')
  }
  await screenshot(a.page, 'reply')

  // A quote of a message beyond the loaded pages: clicking it loads older pages until it is in.
  const original = await send(bob, chat.id, 'the very original')
  for (let i = 1; i <= 70; i++) await send(bob, chat.id, `filler ${i}`)
  await api(`/chats/${chat.id}/messages`, { method: 'POST', token: alice.token, body: { text: 'about that', client_id: `r${Date.now()}`, reply_to_id: original.id } })
  await eventually(async () => (await history(bob, chat.id)).some((m) => m.text === 'about that'), 'reply stored')
  const fresh = await openPage(browser)
  await signIn(fresh.page, bob)
  await openChat(fresh.page, chat.id)
  await messageByText(fresh.page, 'about that').waitFor()
  assert.equal(await messageByText(fresh.page, 'the very original').count(), 0, 'not loaded yet')
  await messageByText(fresh.page, 'about that').getByTestId('message-quote').click()
  const target = fresh.page.locator(`[data-testid="message"][data-mid="${original.id}"]`)
  await target.waitFor()
  await eventually(() => inListView(target), 'the original is in view')

  for (const x of [a, b, fresh]) assert.deepEqual(x.problems.errors, [])
  for (const x of [a, b, fresh]) await x.context.close()
})

test('edit: in the composer, Escape cancels; the other user sees the new text live, marked edited', { timeout: 120_000 }, async () => {
  const { bob, chat, a, b } = await twoUsers()
  for (const p of [a.page, b.page]) await openChat(p, chat.id)
  await sendFromComposer(a.page, 'see you at the stattion')
  const id = await sentMessageId(a.page, 'see you at the stattion')
  await messageByText(b.page, 'see you at the stattion').waitFor()

  // Escape leaves the edit and gives the draft back.
  const input = a.page.getByTestId('composer-input')
  await input.fill('a draft')
  await openMenu(a.page, 'see you at the stattion')
  assert.deepEqual(await menuItems(a.page), ['Reply', 'Edit', 'Copy text', 'Forward', 'Delete for me', 'Delete for everyone'])
  await pick(a.page, 'edit')
  await a.page.getByTestId('composer-edit').waitFor()
  assert.equal(await input.inputValue(), 'see you at the stattion')
  await input.press('Escape')
  await a.page.getByTestId('composer-edit').waitFor({ state: 'detached' })
  assert.equal(await input.inputValue(), 'a draft')

  await openMenu(a.page, 'see you at the stattion')
  await pick(a.page, 'edit')
  await input.fill('see you at the station')
  await input.press('Enter')
  for (const p of [a.page, b.page]) {
    const edited = p.locator(`[data-testid="message"][data-mid="${id}"][data-edited="true"]`)
    await edited.waitFor()
    assert.equal(await edited.getByTestId('message-text').textContent(), 'see you at the station')
    assert.equal((await edited.getByTestId('message-edited').textContent()).trim(), 'edited')
  }
  assert.equal(await input.inputValue(), 'a draft', 'the draft is back after the edit')
  // The chat list's preview follows too.
  await eventually(async () => (await chatItem(b.page, chat.id).getByTestId('chat-preview').textContent()).includes('see you at the station'), 'preview edited')
  // Someone else's message has no Edit, and in a direct chat no delete for everyone.
  await openMenu(b.page, 'see you at the station')
  assert.deepEqual(await menuItems(b.page), ['Reply', 'Copy text', 'Forward', 'Delete for me'])
  await b.page.keyboard.press('Escape')
  await screenshot(b.page, 'edited')

  const stored = await eventually(async () => {
    const m = (await history(bob, chat.id)).find((m) => m.id === id)
    return m?.text === 'see you at the station' && m
  }, 'the edit in history')
  assert.ok(stored.edited_at)
  for (const x of [a, b]) assert.deepEqual(x.problems.errors, [])
  for (const x of [a, b]) await x.context.close()
})

test('delete for everyone removes it for both; for me only for the caller and their other tab', { timeout: 120_000 }, async () => {
  const { alice, bob, chat, a, b } = await twoUsers()
  const mistake = await send(alice, chat.id, 'sent by mistake')
  await api(`/chats/${chat.id}/messages`, { method: 'POST', token: bob.token, body: { text: 'what did you mean?', client_id: `q${Date.now()}`, reply_to_id: mistake.id } })
  await send(bob, chat.id, 'hide this from me')
  const last = await send(bob, chat.id, 'the newest')
  for (const p of [a.page, b.page]) {
    await openChat(p, chat.id)
    await messageByText(p, 'the newest').waitFor()
  }
  // Alice's second tab (same browser profile, same session).
  const tab2 = await a.context.newPage()
  await tab2.goto(BASE_URL + `/#/chat/${chat.id}`)
  await messageByText(tab2, 'the newest').waitFor()

  await openMenu(a.page, 'sent by mistake')
  await pick(a.page, 'delete-all')
  for (const p of [a.page, tab2, b.page]) await messageByText(p, 'sent by mistake').waitFor({ state: 'detached' })
  // A reply to it still stands, quoting a deleted message.
  for (const p of [a.page, b.page]) {
    const quote = messageByText(p, 'what did you mean?').getByTestId('message-quote')
    await eventually(async () => (await quote.locator('.bubble__quote-text').textContent()).trim() === 'Deleted message', 'the quote says deleted')
  }

  await openMenu(a.page, 'hide this from me')
  await pick(a.page, 'delete-me')
  for (const p of [a.page, tab2]) await messageByText(p, 'hide this from me').waitFor({ state: 'detached' })
  // Bob still has it: a message alice sends afterwards reaches bob, after anything the
  // hide could have sent him.
  await sendFromComposer(a.page, 'after the hide')
  const afterId = await sentMessageId(a.page, 'after the hide')
  await waitLiveApplied(b.page, afterId)
  assert.equal(await messageByText(b.page, 'hide this from me').count(), 1)
  assert.equal(await messageByText(b.page, 'sent by mistake').count(), 0)
  assert.ok(last.id < afterId)

  // History is MySQL's projection of the log: it follows within moments.
  const texts = async (user) => (await history(user, chat.id)).map((m) => m.text).join('|')
  await eventually(async () => (await texts(alice)) === 'what did you mean?|the newest|after the hide', 'alice’s history')
  await eventually(async () => (await texts(bob)) === 'what did you mean?|hide this from me|the newest|after the hide', 'bob’s history')
  assert.equal((await history(bob, chat.id))[0].reply_to.text, '', 'the server quotes it as deleted too')
  for (const x of [a, b]) assert.deepEqual(x.problems.errors, [])
  for (const x of [a, b]) await x.context.close()
})

test('a group admin or moderator may delete anyone’s message for everyone; a member may not, until made a moderator', { timeout: 120_000 }, async () => {
  const group = (alice, bob) => api('/chats', { method: 'POST', token: alice.token, body: { title: 'Team', member_ids: [bob.id] } })
  const { alice, bob, chat, a, b } = await twoUsers(group)
  await send(alice, chat.id, 'from the admin')
  await send(bob, chat.id, 'from a member')
  for (const p of [a.page, b.page]) {
    await openChat(p, chat.id)
    await messageByText(p, 'from a member').waitFor()
  }
  await openMenu(b.page, 'from the admin')
  assert.ok(!(await menuItems(b.page)).includes('Delete for everyone'))
  await b.page.keyboard.press('Escape')
  await eventually(async () => {
    await openMenu(a.page, 'from a member')
    const items = await menuItems(a.page)
    if (!items.includes('Delete for everyone')) await a.page.keyboard.press('Escape')
    return items.includes('Delete for everyone')
  }, 'the admin is offered delete for everyone')
  await pick(a.page, 'delete-all')
  for (const p of [a.page, b.page]) await messageByText(p, 'from a member').waitFor({ state: 'detached' })
  await eventually(async () => (await history(bob, chat.id)).map((m) => m.text).join('|') === 'from the admin', 'deleted in history')

  // Bob muted while his chat is open: the composer says he cannot send.
  await api(`/chats/${chat.id}/members/${bob.id}`, { method: 'PATCH', token: alice.token, body: { role: 'muted' } })
  const box = b.page.getByTestId('composer-input')
  await eventually(() => box.isDisabled(), 'the composer is disabled')
  assert.equal(await box.getAttribute('placeholder'), 'You cannot send messages in this chat')
  // Bob made a moderator while his chat is open: his menu offers it from then on.
  await api(`/chats/${chat.id}/members/${bob.id}`, { method: 'PATCH', token: alice.token, body: { role: 'moderator' } })
  await eventually(async () => {
    await openMenu(b.page, 'from the admin')
    const items = await menuItems(b.page)
    await b.page.keyboard.press('Escape')
    await b.page.getByTestId('popup-menu').waitFor({ state: 'detached' })
    return items.includes('Delete for everyone')
  }, 'the new moderator is offered delete for everyone')
  assert.equal(await box.isDisabled(), false)
  for (const x of [a, b]) await x.context.close()
})

test('forward to another chat shows "Forwarded from"; copy puts the text on the clipboard', { timeout: 120_000 }, async () => {
  const { alice, bob, chat, a, b } = await twoUsers()
  const carol = await registerUser('carol')
  const withCarol = await directChat(alice, carol)
  await send(bob, chat.id, 'worth sharing')
  const c = await openPage(browser)
  await signIn(c.page, carol)
  await openChat(c.page, withCarol.id)
  await openChat(a.page, chat.id)
  await messageByText(a.page, 'worth sharing').waitFor()

  await a.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL })
  await openMenu(a.page, 'worth sharing')
  await pick(a.page, 'copy')
  await a.page.getByTestId('notice').filter({ hasText: 'Text copied' }).waitFor()
  assert.equal(await a.page.evaluate(() => navigator.clipboard.readText()), 'worth sharing')

  await openMenu(a.page, 'worth sharing')
  await pick(a.page, 'forward')
  const dialog = a.page.getByTestId('forward-dialog')
  await dialog.waitFor()
  await a.page.getByTestId('forward-filter').fill('no such chat')
  await dialog.getByTestId('forward-empty').waitFor()
  await a.page.getByTestId('forward-filter').fill(carol.name)
  await dialog.locator(`[data-testid="forward-chat"][data-chat-id="${withCarol.id}"]`).click()
  await a.page.locator(`[data-testid="chat-pane"][data-chat-id="${withCarol.id}"]`).waitFor()
  for (const p of [a.page, c.page]) {
    const fwd = messageByText(p, 'worth sharing').and(p.locator('[data-status="sent"]'))
    await fwd.waitFor()
    assert.equal((await fwd.getByTestId('message-forwarded').textContent()).replace(/\s+/g, ' ').trim(), `Forwarded from ${bob.name}`)
  }
  await screenshot(c.page, 'forwarded')
  const stored = await eventually(async () => (await history(carol, withCarol.id)).find((m) => m.text === 'worth sharing'), 'the forward in history')
  assert.equal(stored.forwarded_from.author.id, bob.id)
  assert.equal(stored.author.id, alice.id)
  for (const x of [a, b, c]) assert.deepEqual(x.problems.errors, [])
  for (const x of [a, b, c]) await x.context.close()
})

test('clear history empties the chat for the caller only, after a confirmation', { timeout: 120_000 }, async () => {
  const { alice, bob, chat, a, b } = await twoUsers()
  await send(bob, chat.id, 'one')
  await send(alice, chat.id, 'two')
  for (const p of [a.page, b.page]) {
    await openChat(p, chat.id)
    await messageByText(p, 'two').waitFor()
  }
  await a.page.getByTestId('chat-menu').click()
  await pick(a.page, 'clear')
  await a.page.getByTestId('confirm-cancel').click()
  assert.equal(await messageByText(a.page, 'two').count(), 1, 'cancel keeps it')
  await a.page.getByTestId('chat-menu').click()
  await pick(a.page, 'clear')
  await a.page.getByTestId('confirm-ok').click()
  await a.page.getByTestId('messages-empty').waitFor()
  await eventually(async () => (await chatItem(a.page, chat.id).getByTestId('chat-preview').textContent()).includes('No messages yet'), 'preview cleared')
  await eventually(async () => (await history(alice, chat.id)).length === 0, 'cleared on the server')
  assert.equal((await history(bob, chat.id)).length, 2)
  assert.equal(await messageByText(b.page, 'one').count(), 1)
  // After a reload too; and what comes next is shown.
  await a.page.reload()
  await a.page.getByTestId('messages-empty').waitFor()
  await send(bob, chat.id, 'three')
  await messageByText(a.page, 'three').waitFor()
  assert.equal(await messageByText(a.page, 'one').count(), 0)
  for (const x of [a, b]) await x.context.close()
})

test('a refused delete or edit puts the message back as it was, with a notice that says why', { timeout: 120_000 }, async () => {
  const { alice, chat, a, b } = await twoUsers()
  await send(alice, chat.id, 'stays after all')
  await openChat(a.page, chat.id)
  await messageByText(a.page, 'stays after all').waitFor()
  const refuse = (route) =>
    ['DELETE', 'PATCH'].includes(route.request().method())
      ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'nats down' } }) })
      : route.continue()
  await a.page.route(`**/api/v1/chats/${chat.id}/messages/*`, refuse)

  await openMenu(a.page, 'stays after all')
  await pick(a.page, 'delete-all')
  const notice = a.page.getByTestId('notice').filter({ hasText: 'The message was not deleted.' })
  await notice.waitFor()
  assert.match(await notice.textContent(), /temporarily unavailable/)
  assert.doesNotMatch(await notice.textContent(), /nats down/)
  await messageByText(a.page, 'stays after all').waitFor()

  await openMenu(a.page, 'stays after all')
  await pick(a.page, 'edit')
  await a.page.getByTestId('composer-input').fill('never saved')
  await a.page.getByTestId('composer-input').press('Enter')
  await a.page.getByTestId('notice').filter({ hasText: 'Your edit was not saved.' }).waitFor()
  await messageByText(a.page, 'stays after all').waitFor()
  assert.equal(await messageByText(a.page, 'never saved').count(), 0)
  assert.equal((await history(alice, chat.id)).map((m) => m.text).join(), 'stays after all')
  for (const x of [a, b]) await x.context.close()
})

test('on a touch screen a long press opens the message menu', { timeout: 60_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(alice, bob)
  await send(bob, chat.id, 'press and hold me')
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true })
  const page = await phone.newPage()
  await signIn(page, alice)
  await openChat(page, chat.id)
  const bubble = messageByText(page, 'press and hold me').locator('.bubble')
  await bubble.waitFor()
  // A finger down that stays: the menu opens after the hold, with nothing else done.
  await bubble.evaluate((el) => {
    const r = el.getBoundingClientRect()
    el.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true, pointerType: 'touch', clientX: r.left + 10, clientY: r.top + 10 }))
  })
  await page.getByTestId('popup-menu').waitFor()
  assert.deepEqual(await menuItems(page), ['Reply', 'Copy text', 'Forward', 'Delete for me'])
  await pick(page, 'reply')
  await page.getByTestId('composer-reply').waitFor()
  await phone.close()
})
