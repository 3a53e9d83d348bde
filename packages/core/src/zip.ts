import { RnnError } from './errors.js';

/** One entry of a zip archive: its bytes as stored, and how they are compressed (0: not at all). */
export interface ZipEntry {
  name: string;
  method: number;
  bytes: Uint8Array;
}

/**
 * Reads the table of contents of a zip archive and returns each entry's bytes as a view of `bytes`
 * (nothing is copied or inflated). ZIP64 archives (torch always writes the ZIP64 records) are read.
 * Sizes or offsets that do not fit in the file, encrypted entries and duplicate names are `format`
 * errors. No size is trusted before it is checked against the file, so nothing is allocated for a
 * zip bomb. Read an entry's contents with `storedBytes`.
 */
export function readZip(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = findEndOfCentralDirectory(view);
  let entryCount = view.getUint16(end + 10, true);
  let directorySize = view.getUint32(end + 12, true);
  let directoryOffset = view.getUint32(end + 16, true);

  const locator = end - 20;
  if (locator >= 0 && view.getUint32(locator, true) === 0x07064b50) {
    const record = safeNumber(view.getBigUint64(locator + 8, true));
    if (record + 56 > locator) throw zipError(`the ZIP64 end record at byte ${record} is outside the file`);
    if (view.getUint32(record, true) !== 0x06064b50) throw zipError(`no ZIP64 end record at byte ${record}`);
    entryCount = safeNumber(view.getBigUint64(record + 32, true));
    directorySize = safeNumber(view.getBigUint64(record + 40, true));
    directoryOffset = safeNumber(view.getBigUint64(record + 48, true));
  }
  if (directoryOffset + directorySize > bytes.byteLength) {
    throw zipError(`the central directory (${directorySize} bytes at byte ${directoryOffset}) ends past the end of the ${bytes.byteLength}-byte file (is it truncated?)`);
  }
  if (entryCount * 46 > directorySize) {
    throw zipError(`the central directory claims ${entryCount} entries but has room for at most ${Math.floor(directorySize / 46)}`);
  }

  const names = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let position = directoryOffset;
  const directoryEnd = directoryOffset + directorySize;
  for (let i = 0; i < entryCount; i++) {
    if (position + 46 > directoryEnd || view.getUint32(position, true) !== 0x02014b50) {
      throw zipError(`central directory entry ${i} at byte ${position} is damaged`);
    }
    const flags = view.getUint16(position + 8, true);
    const method = view.getUint16(position + 10, true);
    let compressedSize = view.getUint32(position + 20, true);
    let size = view.getUint32(position + 24, true);
    const nameLength = view.getUint16(position + 28, true);
    const extraLength = view.getUint16(position + 30, true);
    const commentLength = view.getUint16(position + 32, true);
    let localOffset = view.getUint32(position + 42, true);
    const next = position + 46 + nameLength + extraLength + commentLength;
    if (next > directoryEnd) throw zipError(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(position + 46, position + 46 + nameLength));

    // ZIP64 extended information: the 64-bit values of the fields saturated at 0xFFFFFFFF, in this order.
    let extra = position + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (extra + 4 + length > extraEnd) throw zipError(`entry "${name}" has a damaged extra field`);
      if (id === 0x0001) {
        let field = extra + 4;
        const read64 = (value: number): number => {
          if (value !== 0xffffffff) return value;
          if (field + 8 > extra + 4 + length) throw zipError(`entry "${name}" has a short ZIP64 extra field`);
          const wide = safeNumber(view.getBigUint64(field, true));
          field += 8;
          return wide;
        };
        size = read64(size);
        compressedSize = read64(compressedSize);
        localOffset = read64(localOffset);
      }
      extra += 4 + length;
    }

    if (flags & 1) throw zipError(`entry "${name}" is encrypted`);
    if (method === 0 && compressedSize !== size) throw zipError(`stored entry "${name}" has a compressed size of ${compressedSize} but a size of ${size}`);
    if (localOffset + 30 > bytes.byteLength || view.getUint32(localOffset, true) !== 0x04034b50) {
      throw zipError(`entry "${name}" has no local header at byte ${localOffset}`);
    }
    const dataStart = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataStart + compressedSize > bytes.byteLength) {
      throw zipError(`entry "${name}" (${compressedSize} bytes at byte ${dataStart}) ends past the end of the ${bytes.byteLength}-byte file (is it truncated?)`);
    }
    if (entries.has(name)) throw zipError(`entry "${name}" appears twice`);
    entries.set(name, { name, method, bytes: bytes.subarray(dataStart, dataStart + compressedSize) });
    position = next;
  }
  return entries;
}

/** An entry's contents, which must be stored uncompressed, as torch.save writes every entry. */
export function storedBytes(entry: ZipEntry): Uint8Array {
  if (entry.method !== 0) {
    const how = entry.method === 8 ? 'deflate-compressed' : `compressed with method ${entry.method}`;
    throw zipError(`entry "${entry.name}" is ${how}; torch.save stores entries uncompressed (the file was re-compressed by another tool: re-save it with torch.save, or zip it again with \`zip -0\`)`);
  }
  return entry.bytes;
}

function zipError(message: string): RnnError {
  return new RnnError('format', `Invalid zip archive: ${message}`);
}

/** The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes. */
function findEndOfCentralDirectory(view: DataView): number {
  const last = view.byteLength - 22;
  for (let position = last; position >= 0 && position >= last - 0xffff; position--) {
    if (view.getUint32(position, true) === 0x06054b50 && position + 22 + view.getUint16(position + 20, true) === view.byteLength) {
      return position;
    }
  }
  throw zipError('no end-of-central-directory record (is the file truncated?)');
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw zipError(`a size or offset of ${value} bytes is beyond any file`);
  return Number(value);
}
