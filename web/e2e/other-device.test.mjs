// The left column follows what happens elsewhere: a chat someone else starts appears,
// and reading on another device clears the badge here.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { chatItem, directChat, eventually, launchBrowser, messageByText, openChat, openPage, registerUser, send, signIn } from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

test('reading on another device clears the badge on this one', { timeout: 120_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')

  const laptop = await openPage(browser)
  const phone = await openPage(browser, { width: 390, height: 844 })
  await signIn(laptop.page, alice)
  await signIn(phone.page, alice)

  // Bob starts a chat and writes twice: both of alice's devices show it with badge 2.
  const chat = await directChat(bob, alice)
  await send(bob, chat.id, 'first')
  await send(bob, chat.id, 'second')
  for (const p of [laptop.page, phone.page]) {
    await chatItem(p, chat.id).waitFor()
    await eventually(async () => (await chatItem(p, chat.id).getByTestId('unread-badge').textContent())?.trim() === '2', 'badge 2')
  }

  // Alice reads on her phone; the laptop's badge goes away without a reload.
  await openChat(phone.page, chat.id)
  await messageByText(phone.page, 'second').waitFor()
  await chatItem(laptop.page, chat.id).getByTestId('unread-badge').waitFor({ state: 'detached' })

  // A new message counts again from the new read position: 1, not 3.
  await phone.page.getByTestId('back').click()
  await send(bob, chat.id, 'third')
  await eventually(async () => (await chatItem(laptop.page, chat.id).getByTestId('unread-badge').textContent())?.trim() === '1', 'badge 1 on the laptop')
  assert.deepEqual(laptop.problems.errors, [])
  assert.deepEqual(phone.problems.errors, [])
  await laptop.context.close()
  await phone.context.close()
})
