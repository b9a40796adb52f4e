/**
 * Reading a byte stream whole, but never more than a limit: request bodies, fetched models, local files; and
 * reading a local file of known size into memory that can be handed back as soon as its model is built.
 */

/**
 * Concatenates the chunks `next` gives (undefined: the end) and throws `tooLarge()` as soon as they pass
 * `maxBytes`, after calling `stop` to abandon the rest.
 */
export async function readCapped(
  next: () => Promise<Uint8Array | undefined>, maxBytes: number, tooLarge: () => Error, stop: () => Promise<void> | void,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (let chunk = await next(); chunk; chunk = await next()) {
    length += chunk.byteLength;
    if (length > maxBytes) {
      await stop();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** ES2024's resizable ArrayBuffer, which the ES2022 typings do not know. */
type ResizableArrayBuffer = ArrayBuffer & { readonly resizable?: boolean; resize(length: number): void };
type ResizableArrayBufferConstructor = new (length: number, options: { maxByteLength: number }) => ResizableArrayBuffer;

/**
 * `length` zeroed bytes whose memory releaseBytes() can hand back at once: a resizable ArrayBuffer (hosts without
 * one ignore the option and give a plain ArrayBuffer). For model files read from disk, megabytes needed only while
 * loading. Not for bytes that go to web APIs: most refuse views of a resizable buffer (Response, TextDecoder).
 */
export function releasableBytes(length: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new (ArrayBuffer as unknown as ResizableArrayBufferConstructor)(length, { maxByteLength: length }));
}

/** Gives back the memory of releasableBytes() now, rather than at some garbage collection; other bytes are left alone. */
export function releaseBytes(bytes: Uint8Array): void {
  const buffer = bytes.buffer as ResizableArrayBuffer;
  if (buffer.resizable) buffer.resize(0);
}

/**
 * A file of known `size` read whole into releasableBytes(): `read(into, offset)` reads the bytes from `offset` on
 * into `into` and says how many it read (0 or null at the end of the file). Throws if the file ends early.
 */
export async function readSizedFile(size: number, read: (into: Uint8Array, offset: number) => Promise<number | null>): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = releasableBytes(size);
  for (let filled = 0; filled < size;) {
    const count = await read(bytes.subarray(filled), filled);
    if (!count) throw new Error(`it ended at byte ${filled} of ${size} while being read`);
    filled += count;
  }
  return bytes;
}

/** The error of a model source over limits.maxModelBytes. */
export function overModelLimit(maxBytes: number): () => Error {
  return () => new RangeError(`it is more than the limit of ${maxBytes} bytes (limits.maxModelBytes)`);
}

/** readCapped() over a web stream (not for-await: Safari's streams are not async iterable). */
export function readStreamCapped(stream: ReadableStream<Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<Uint8Array<ArrayBuffer>> {
  const reader = stream.getReader();
  return readCapped(async () => {
    const chunk = await reader.read();
    return chunk.done ? undefined : chunk.value;
  }, maxBytes, tooLarge, () => {
    reader.cancel().catch(() => {}); // nothing to wait for: the rest is dropped
  });
}
