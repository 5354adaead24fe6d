import { createApi } from './client'
import { session, signOut } from '../stores/session'

/** The API of the origin that served the client; a 401 ends the session. */
export const api = createApi({
  getToken: () => session.token,
  onUnauthorized: () => signOut('expired'),
})
