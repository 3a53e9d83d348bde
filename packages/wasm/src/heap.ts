import { RnnError } from '@recurrent/core';

const PAGE = 65536;
const ALIGN = 64;
/** wasm32 addresses 4 GiB at most (65536 pages). */
export const WASM32_MAX_BYTES = 65536 * PAGE;

interface Block {
  start: number;
  size: number;
}

function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * A first-fit allocator over the module's linear memory, owned by the host: models allocate their
 * weights and scratch here and free them on dispose, so the space is reused instead of the memory
 * growing. Free blocks are kept sorted by address and merged with their neighbours.
 */
export class Heap {
  /** Free blocks, sorted by address. */
  private readonly free: Block[] = [];
  /** Size of each block handed out, by its start. */
  private readonly sizes = new Map<number, number>();
  private allocated = 0;
  /** The memory's current size in bytes. */
  private end: number;

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    /** The most bytes this memory may reach (its declared maximum, or 4 GiB). */
    readonly maxBytes: number,
  ) {
    const start = alignUp(base, ALIGN);
    const end = memory.buffer.byteLength;
    if (end > start) this.free.push({ start, size: end - start });
    this.end = end;
  }

  /** A Float32Array over the whole memory, made again only when the memory grows (only grow() does). */
  private view: Float32Array | null = null;

  get floats(): Float32Array {
    return (this.view ??= new Float32Array(this.memory.buffer));
  }

  /** Bytes handed out and not yet freed. */
  get allocatedBytes(): number {
    return this.allocated;
  }

  /** Reserves `bytes` (rounded up to 64) and returns their offset, growing the memory if it must. */
  alloc(bytes: number, what: string): number {
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    let index = this.free.findIndex((block) => block.size >= size);
    if (index < 0) index = this.grow(size, what);
    const block = this.free[index]!;
    const start = block.start;
    if (block.size === size) this.free.splice(index, 1);
    else {
      block.start += size;
      block.size -= size;
    }
    this.allocated += size;
    this.sizes.set(start, size);
    return start;
  }

  /** Gives a block back; neighbouring free blocks merge so that large requests fit again. */
  release(start: number): void {
    const size = this.sizes.get(start);
    if (size === undefined) return;
    this.sizes.delete(start);
    this.allocated -= size;
    let index = this.free.findIndex((block) => block.start > start);
    if (index < 0) index = this.free.length;
    this.free.splice(index, 0, { start, size });
    // Merge with the next block, then with the previous one.
    const next = this.free[index + 1];
    if (next && start + size === next.start) {
      this.free[index]!.size += next.size;
      this.free.splice(index + 1, 1);
    }
    const previous = this.free[index - 1];
    if (previous && previous.start + previous.size === start) {
      previous.size += this.free[index]!.size;
      this.free.splice(index, 1);
    }
  }

  /** Grows the memory so that a block of `size` fits at its end; returns that free block's index. */
  private grow(size: number, what: string): number {
    const last = this.free[this.free.length - 1];
    const tailFree = last && last.start + last.size === this.end ? last.size : 0;
    const needed = size - tailFree;
    const pages = Math.ceil(needed / PAGE);
    const newEnd = this.end + pages * PAGE;
    const details = { what, requestedBytes: size, memoryBytes: this.end, allocatedBytes: this.allocated, maxBytes: this.maxBytes };
    if (newEnd > this.maxBytes) {
      throw new RnnError('limit', `WebAssembly memory cannot hold ${what}: it needs ${mib(size)} more, and ${mib(this.allocated)} are in use of at most ${mib(this.maxBytes)}`, details);
    }
    try {
      this.view = null;
      this.memory.grow(pages);
    } catch (cause) {
      throw new RnnError('limit', `WebAssembly memory could not grow to ${mib(newEnd)} for ${what} (${(cause as Error).message})`, details, { cause });
    }
    if (tailFree > 0) last!.size += pages * PAGE;
    else this.free.push({ start: this.end, size: pages * PAGE });
    this.end = newEnd;
    return this.free.length - 1;
  }
}

/**
 * One block of linear memory laid out as named buffers, each 64-byte aligned: reused by every call whose
 * buffers fit in it, and replaced (never grown in place) when a larger call comes. A model's forwards
 * share one, and its backwards another.
 */
export class ScratchSpace {
  /** The block's offset (-1: none yet) and size in bytes. */
  block = -1;
  bytes = 0;

  constructor(private readonly heap: Heap) {}

  /**
   * The byte offset of each buffer (sizes in floats) for a call of L steps × N batch elements; `call`
   * names it in errors ('an input', 'a backward') and `what` the model.
   */
  layout<Name extends string>(sizes: Record<Name, number>, L: number, N: number, call: string, what: string): Record<Name, number> {
    const at = {} as Record<Name, number>;
    let bytes = 0;
    for (const name of Object.keys(sizes) as Name[]) {
      at[name] = bytes;
      bytes += alignUp(sizes[name] * 4, ALIGN);
    }
    if (bytes > this.bytes) {
      const { heap } = this;
      const shape = `${L} step(s) × ${N} batch element(s)`;
      if (bytes > heap.maxBytes) {
        const sentence = call[0]!.toUpperCase() + call.slice(1);
        throw new RnnError('limit', `${sentence} of ${shape} needs ${mib(bytes)} of WebAssembly memory for ${what}; at most ${(heap.maxBytes / 2 ** 20).toFixed(0)} MiB fit`, {
          seqLen: L, batch: N, requestedBytes: bytes, maxBytes: heap.maxBytes,
        });
      }
      this.release();
      this.block = heap.alloc(bytes, `the buffers of ${call} of ${shape}`);
      this.bytes = bytes;
    }
    for (const name of Object.keys(at) as Name[]) at[name] += this.block;
    return at;
  }

  release(): void {
    if (this.block >= 0) this.heap.release(this.block);
    this.block = -1;
    this.bytes = 0;
  }
}
