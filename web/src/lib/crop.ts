/**
 * The square crop of an avatar picture, as the cropper shows it: the image is scaled so
 * that its shorter side fills the viewport (zoom 1), zoomed in from there, and moved by
 * dragging; the crop is what the viewport shows, in the image's own pixels, and never
 * leaves the image.
 */
export interface Crop {
  /** The image's natural size. */
  w: number
  h: number
  /** The viewport's side, in CSS pixels. */
  view: number
  /** 1 (the shorter side fits) or more. */
  zoom: number
  /** How far the user moved the image from the centre, in viewport pixels (right and down are positive). */
  dx: number
  dy: number
}

/** The largest side the client sends; the server keeps at most 512×512 (API.md). */
export const OUTPUT_SIZE = 512

export function coverScale(c: Pick<Crop, 'w' | 'h' | 'view'>): number {
  return c.view / Math.min(c.w, c.h)
}

/** The square shown, in image pixels: its top-left corner and side. */
export function cropRect(c: Crop): { x: number; y: number; size: number } {
  const zoom = Math.max(1, c.zoom)
  const s = coverScale(c) * zoom
  const size = Math.min(c.w, c.h) / zoom
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max)
  return {
    x: clamp((c.w - size) / 2 - c.dx / s, c.w - size),
    y: clamp((c.h - size) / 2 - c.dy / s, c.h - size),
    size,
  }
}
