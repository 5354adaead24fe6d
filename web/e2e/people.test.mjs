// People of API 1.1 across two users, each in a browser context of their own: one's own
// profile (photo cropped and uploaded, name — taken and look-alike names refused —,
// about, privacy), what the other user sees of it live (author names, avatars beside a
// group's runs of messages, the profile panel), and blocking in the profile panel.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  api, BASE_URL, chatItem, directChat, launchBrowser, messageByText, openChat, openPage, registerUser, screenshot, send,
  sendFromComposer, sentMessageId, signIn,
} from './helpers.mjs'

let browser
before(async () => {
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
})

/** A PNG drawn by the browser itself: a 300×200 picture with a stripe per colour. */
async function pngOf(page, colors) {
  const dataUrl = await page.evaluate((colors) => {
    const c = document.createElement('canvas')
    c.width = 300
    c.height = 200
    const ctx = c.getContext('2d')
    colors.forEach((color, i) => {
      ctx.fillStyle = color
      ctx.fillRect((i * 300) / colors.length, 0, 300 / colors.length, 200)
    })
    return c.toDataURL('image/png')
  }, colors)
  return Buffer.from(dataUrl.split(',')[1], 'base64')
}

async function openMyProfile(page) {
  await page.getByTestId('my-profile').click()
  await page.getByTestId('my-profile-panel').waitFor()
}

async function saved(page, text) {
  await page.getByTestId('my-profile-saved').getByText(text).waitFor()
}

/** The avatars beside the group's messages, as [message text, author id, image url or null]. */
async function messageAvatars(page) {
  return page.getByTestId('message').evaluateAll((nodes) =>
    nodes.map((n) => {
      const av = n.querySelector('[data-testid="message-avatar"]')
      return [
        n.querySelector('[data-testid="message-text"]').textContent,
        av ? Number(av.dataset.userId) : null,
        av?.querySelector('[data-testid="avatar"]').dataset.avatarUrl ?? null,
      ]
    }),
  )
}

test('own profile: photo, name and about; the other user sees them live, in the group and the chat list', { timeout: 240_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const carol = await registerUser('carol')
  const group = await api('/chats', { method: 'POST', token: bob.token, body: { title: 'Avatars', member_ids: [alice.id, carol.id] } })
  await send(carol, group.id, 'first from carol')
  await send(carol, group.id, 'second from carol')
  await send(alice, group.id, 'alice here')
  await send(carol, group.id, 'carol again')
  // No message in it: the list learns who the other member is from GET /chats/{id}.
  const direct = await directChat(bob, alice)
  const a = await openPage(browser)
  const b = await openPage(browser)
  await signIn(a.page, alice)
  await signIn(b.page, bob)
  await openChat(b.page, group.id)
  await messageByText(b.page, 'carol again').waitFor()

  // Before: initials everywhere; one avatar per run of one author, beside its last bubble.
  assert.deepEqual(await messageAvatars(b.page), [
    ['first from carol', null, null],
    ['second from carol', carol.id, null],
    ['alice here', alice.id, null],
    ['carol again', carol.id, null],
  ])

  // A photo: picked, cropped to a square, uploaded; the sidebar shows it.
  await openMyProfile(a.page)
  await a.page.getByTestId('avatar-file').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: await pngOf(a.page, ['#e53935', '#1e88e5', '#43a047']) })
  await a.page.getByTestId('avatar-cropper').waitFor()
  await a.page.getByTestId('avatar-crop-done').click()
  await saved(a.page, 'Photo saved.')
  const mine = await api('/me', { token: alice.token })
  assert.match(mine.avatar_url ?? '', /^\/api\/v1\/avatars\/.+/)
  await a.page.locator(`[data-testid="my-profile"] [data-avatar-url="${mine.avatar_url}"]`).waitFor()
  const image = await fetch(BASE_URL + mine.avatar_url)
  assert.equal(image.status, 200, 'the avatar is served without a token')
  assert.match(image.headers.get('content-type') ?? '', /^image\//)

  // About, then names: a taken one and a look-alike of it are refused, a fresh one is taken.
  await a.page.getByTestId('my-about-input').fill('Painter. Likes stripes.')
  await a.page.getByTestId('my-about-save').click()
  await saved(a.page, 'About saved.')
  const error = a.page.getByTestId('my-profile-error')
  for (const taken of [bob.name, bob.name.replace('o', '\u043e')]) {
    // Editing clears what the last save said, so the error below is this attempt's.
    await a.page.getByTestId('my-name-input').fill(taken)
    await error.waitFor({ state: 'detached' })
    await a.page.getByTestId('my-name-save').click()
    await error.waitFor()
    assert.match(await error.textContent(), /taken, or looks like a name that is/)
  }
  assert.equal((await api('/me', { token: alice.token })).name, alice.name)
  const newName = alice.name.replace('alice', 'alicia')
  await a.page.getByTestId('my-name-input').fill(newName)
  await a.page.getByTestId('my-name-save').click()
  await saved(a.page, 'Name saved.')
  await a.page.getByTestId('me-name').getByText(newName, { exact: true }).waitFor()
  await screenshot(a.page, 'profile-editor')

  // Bob, with the group open all along: the new name and the photo on alice's message.
  const aliceMsg = messageByText(b.page, 'alice here')
  await aliceMsg.getByTestId('message-author').getByText(newName, { exact: true }).waitFor()
  await aliceMsg.locator(`[data-testid="message-avatar"] [data-avatar-url="${mine.avatar_url}"] img`).waitFor()
  assert.ok(await aliceMsg.locator('[data-testid="message-avatar"] img').evaluate((img) => img.complete && img.naturalWidth > 0), 'the image loaded')
  assert.deepEqual(await messageAvatars(b.page), [
    ['first from carol', null, null],
    ['second from carol', carol.id, null],
    ['alice here', alice.id, mine.avatar_url],
    ['carol again', carol.id, null],
  ])
  await screenshot(b.page, 'group-avatars')

  // The direct chat with her, in bob's list: her photo and her new name as its title.
  const directItem = chatItem(b.page, direct.id)
  await directItem.locator(`[data-avatar-url="${mine.avatar_url}"]`).waitFor()
  await directItem.getByTestId('chat-title').getByText(newName, { exact: true }).waitFor()

  // Her profile panel, from her avatar.
  await aliceMsg.getByTestId('message-avatar').click()
  const panel = b.page.getByTestId('profile-panel')
  await panel.getByTestId('profile-name').getByText(newName, { exact: true }).waitFor()
  assert.equal(await panel.getByTestId('profile-about').textContent(), 'Painter. Likes stripes.')
  await panel.locator(`[data-avatar-url="${mine.avatar_url}"]`).waitFor()

  // Removing the photo brings the initials back.
  await a.page.getByTestId('avatar-remove').click()
  await saved(a.page, 'Photo removed.')
  assert.equal((await api('/me', { token: alice.token })).avatar_url, null)

  for (const x of [a, b]) assert.deepEqual(x.problems, { dialogs: [], errors: [] })
  await a.context.close()
  await b.context.close()
})

test('profile panel: send message, block (nobody can write in the direct chat), unblock; privacy settings', { timeout: 240_000 }, async () => {
  const alice = await registerUser('alice')
  const bob = await registerUser('bob')
  const group = await api('/chats', { method: 'POST', token: alice.token, body: { title: 'Met here', member_ids: [bob.id] } })
  const a = await openPage(browser)
  const b = await openPage(browser)
  await signIn(a.page, alice)
  await signIn(b.page, bob)

  // From the group's member list to bob's profile, and "Send message" opens the direct chat.
  await openChat(a.page, group.id)
  await a.page.getByTestId('chat-info-open').click()
  await a.page.locator(`[data-testid="member"][data-user-id="${bob.id}"] [data-testid="member-open"]`).click()
  const panel = a.page.getByTestId('profile-panel')
  await panel.getByTestId('profile-name').getByText(bob.name, { exact: true }).waitFor()
  await panel.getByTestId('profile-message').click()
  await a.page.getByTestId('side-panel').waitFor({ state: 'detached' })
  await a.page.getByTestId('chat-header-title').getByText(bob.name, { exact: true }).waitFor()
  const directId = Number(await a.page.getByTestId('chat-pane').getAttribute('data-chat-id'))
  assert.notEqual(directId, group.id)
  await sendFromComposer(a.page, 'hi bob')
  await sentMessageId(a.page, 'hi bob')
  await chatItem(b.page, directId).waitFor()
  await openChat(b.page, directId)
  await messageByText(b.page, 'hi bob').waitFor()

  // Block: the panel says so, and neither side can write in the direct chat.
  await a.page.getByTestId('chat-info-open').click()
  await a.page.getByTestId('chat-info-profile').click()
  await panel.getByTestId('profile-block').click()
  await a.page.getByTestId('confirm-ok').click()
  await panel.getByTestId('blocked-note').waitFor()
  assert.deepEqual((await api('/me/blocks', { token: alice.token })).users.map((u) => u.id), [bob.id])
  await sendFromComposer(b.page, 'are you there?')
  const refused = messageByText(b.page, 'are you there?').and(b.page.locator('[data-status="failed"]'))
  await refused.waitFor()
  await refused.getByTestId('message-discard').click()
  await a.page.getByTestId('panel-close').click()
  await sendFromComposer(a.page, 'blocked talk')
  await messageByText(a.page, 'blocked talk').and(a.page.locator('[data-status="failed"]')).waitFor()
  await messageByText(a.page, 'blocked talk').getByTestId('message-discard').click()

  // Unblock: bob can write again.
  await a.page.getByTestId('chat-info-open').click()
  await a.page.getByTestId('chat-info-profile').click()
  await panel.getByTestId('profile-unblock').click()
  await panel.getByTestId('profile-block').waitFor()
  await sendFromComposer(b.page, 'back again')
  await sentMessageId(b.page, 'back again')
  await messageByText(a.page, 'back again').waitFor()

  // Privacy: nobody may start a new direct chat with alice (an existing one stays), and
  // the settings chosen are shown again after a reload.
  await a.page.getByTestId('panel-close').click()
  await openMyProfile(a.page)
  await a.page.getByTestId('privacy-direct_messages-nobody').check()
  await saved(a.page, 'Privacy saved.')
  await a.page.getByTestId('privacy-last_seen-nobody').check()
  await saved(a.page, 'Privacy saved.')
  const carol = await registerUser('carol')
  const refusedChat = await fetch(`${BASE_URL}/api/v1/chats`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${carol.token}` },
    body: JSON.stringify({ member_ids: [alice.id] }),
  })
  assert.equal(refusedChat.status, 403)
  await sendFromComposer(b.page, 'still here')
  await messageByText(a.page, 'still here').waitFor()
  await a.page.reload()
  await openMyProfile(a.page)
  for (const id of ['privacy-direct_messages-nobody', 'privacy-last_seen-nobody']) {
    await a.page.getByTestId(id).and(a.page.locator(':checked')).waitFor()
  }
  assert.equal(await a.page.getByTestId('privacy-last_seen-everyone').isChecked(), false)

  for (const x of [a, b]) assert.deepEqual(x.problems, { dialogs: [], errors: [] })
  await a.context.close()
  await b.context.close()
})
