/**
 * Text on byte streams: the encodings that string writes accept, and where a run of bytes stops
 * being whole characters (so a reader never decodes half a multi-byte character).
 */
import { describe } from './validate';

/** An encoding for text written to a stream: any of Node's (`'utf8'`, `'latin1'`, `'utf16le'`, `'base64'`, `'hex'`, ...). */
export type TextEncoding = BufferEncoding;

/** An encoding for reading lines: one where the byte 0x0A is always the character '\n' (ASCII-compatible). */
export type LineEncoding = 'utf8' | 'utf-8' | 'latin1' | 'binary' | 'ascii';

const LINE_ENCODINGS: ReadonlySet<string> = new Set(['utf8', 'utf-8', 'latin1', 'binary', 'ascii']);

/** `enc` is one of Node's encodings (default `'utf8'`): TypeError naming the argument otherwise. */
export function checkEncoding(enc: unknown, what: string): TextEncoding {
  if (enc === undefined) return 'utf8';
  if (typeof enc !== 'string' || !Buffer.isEncoding(enc)) {
    throw new TypeError(`${what} must be an encoding Node knows ('utf8', 'latin1', 'utf16le', 'base64', 'hex', ...), got ${describe(enc)}`);
  }
  return enc;
}

/** `enc` is an ASCII-compatible encoding (default `'utf8'`), so that lines can be split at the byte 0x0A. */
export function checkLineEncoding(enc: unknown, what: string): LineEncoding {
  if (enc === undefined) return 'utf8';
  if (typeof enc !== 'string' || !LINE_ENCODINGS.has(enc.toLowerCase())) {
    throw new TypeError(
      `${what} must be 'utf8', 'latin1' or 'ascii' (lines are split at the byte 0x0A, so the encoding must be ASCII-compatible), got ${describe(enc)}`,
    );
  }
  return enc.toLowerCase() as LineEncoding;
}

/** The bytes of `text` in `encoding` (validated; default utf8). */
export function encodeText(text: string, encoding: unknown, what: string): Buffer {
  return Buffer.from(text, checkEncoding(encoding, what));
}

/**
 * The end of the longest prefix of `b[start, end)` made of whole characters in `encoding`: for
 * UTF-8, a trailing lead byte whose continuation bytes have not arrived yet is held back (at
 * most 3 bytes); the single-byte encodings are always whole.
 */
export function wholeCharsEnd(b: Uint8Array, start: number, end: number, encoding: LineEncoding): number {
  if (encoding !== 'utf8' && encoding !== 'utf-8') return end;
  // Look back at most 3 bytes for the lead byte of the last character.
  for (let i = end - 1; i >= start && i >= end - 3; i--) {
    const c = b[i];
    if ((c & 0xc0) === 0x80) continue; // a continuation byte
    const need = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : 1;
    return i + need > end ? i : end;
  }
  return end; // no lead byte close to the end: invalid or whole, decoded as it is
}
