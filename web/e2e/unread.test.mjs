// Opening a chat with a long unread part: it opens at the "new messages" divider, and
// only what has been on screen counts as read.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { api, chatItem, directChat, eventually, history, launchBrowser, openChat, openPage, registerUser, screenshot, send, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

async function unreadOnServer(user, chatId) {
  const { chats } = await api('/chats', { token: user.token })
  return chats.find((c) => c.id === chatId)?.unread_count
}

test('a chat with 250 unread opens at the divider; the badge follows what was seen', { timeout: 240_000 }, async (t) => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const chat = await directChat(bob, alice)
  for (let i = 1; i <= 20; i++) await send(alice, chat.id, `early ${i}`)
  for (let i = 1; i <= 250; i++) await send(bob, chat.id, `unread ${i}`)
  await eventually(async () => (await history(alice, chat.id)).length === 270, 'seeded history', 60_000)
  await eventually(async () => (await unreadOnServer(alice, chat.id)) === 250, 'unread 250 on the server')

  const { page, context, problems } = await openPage(browser)
  await signIn(page, alice)
  assert.equal((await chatItem(page, chat.id).getByTestId('unread-badge').textContent()).trim(), '250')
  await openChat(page, chat.id)
  const divider = page.getByTestId('unread-divider')
  await divider.waitFor()
  const list = page.getByTestId('message-list')
  const pos = await list.evaluate((el) => {
    const d = el.querySelector('[data-testid="unread-divider"]')
    const next = d.nextElementSibling.querySelector('[data-testid="message-text"]')
    return { top: d.getBoundingClientRect().top - el.getBoundingClientRect().top, next: next.textContent }
  })
  assert.equal(pos.next, 'unread 1')
  assert.ok(pos.top >= 0 && pos.top < 120, `divider at ${pos.top}px from the top of the pane`)
  await screenshot(page, '13-opened-at-new-messages')

  // Only the first screenful was seen: the badge goes down, but not to zero.
  await eventually(async () => {
    const n = await unreadOnServer(alice, chat.id)
    return n < 250 && n > 150
  }, 'some read, most still unread')
  await eventually(async () => {
    const badge = Number((await chatItem(page, chat.id).getByTestId('unread-badge').textContent()).trim())
    return badge > 150 && badge < 250
  }, 'the badge shows the rest')

  // Reading to the end clears it. Each step scrolls most of a screen further and waits
  // until the lowest message it brought fully on screen has been seen (the list's
  // data-seen-id), as a reader would look at every screenful.
  let steps = 0
  for (; ; steps++) {
    assert.ok(steps < 200, 'reached the end of the chat')
    const { moved, atEnd, lowest } = await list.evaluate((el) => {
      const before = el.scrollTop
      el.scrollBy(0, el.clientHeight * 0.8)
      const bottom = el.getBoundingClientRect().bottom
      const full = [...el.querySelectorAll('[data-mid]')].filter((m) => m.getBoundingClientRect().bottom <= bottom)
      return {
        moved: el.scrollTop !== before,
        atEnd: el.scrollTop + el.clientHeight >= el.scrollHeight - 1,
        lowest: Number(full.at(-1)?.dataset.mid ?? 0),
      }
    })
    await page.waitForFunction(
      (id) => Number(document.querySelector('[data-testid="message-list"]').dataset.seenId ?? 0) >= id,
      lowest,
    )
    if (atEnd || !moved) break
  }
  t.diagnostic(`read to the end in ${steps + 1} scroll steps`)
  await chatItem(page, chat.id).getByTestId('unread-badge').waitFor({ state: 'detached' })
  await eventually(async () => (await unreadOnServer(alice, chat.id)) === 0, 'all read on the server')
  assert.deepEqual(problems.errors, [])
  await context.close()
})
