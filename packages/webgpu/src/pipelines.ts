/**
 * Compiled GPU code shared by every model of a backend. A model's kernels are WGSL generated from its
 * sizes, and compiling a compute pipeline is the dearest thing a small model does (half a second for
 * one of the backward's GEMMs on a software GPU): models of the same sizes, and every model's GEMMs,
 * compile the same code, so it is compiled once per device. Keys are the WGSL source itself (never a
 * hash of it: a collision would run the wrong kernel; see sourceKey), the entry point and the bind group
 * layout. Pipelines are compiled with createComputePipelineAsync, off the main thread in Dawn (the
 * synchronous form held Node's event loop for seconds on a software GPU), and cached as promises, so
 * that models asking for the same pipeline at once share one compilation.
 */

/** How many shader modules (each with its pipelines) stay compiled: the least recently used go first. */
export const CACHED_MODULES = 512;

const utf8 = { encoder: new TextEncoder(), decoder: new TextDecoder() };

/**
 * The source as the compiler reads it: line comments dropped and whitespace runs made one space, which
 * keeps every token. A source with a block comment is kept whole (a `//` inside one does not start a
 * line comment). The key is then stored one byte per character: the comments carry the math's ·, ᵀ and
 * ⊙, which make the generated source, and any string cut from it, two bytes per character: keys for
 * the ~460 kernels of the reliability soak take 1.8 MB of heap so, 4.5 MB as whole sources.
 */
export function sourceKey(code: string): string {
  if (code.includes('/*')) return code;
  const key = code.replace(/\/\/[^\n\v\f\r\u0085\u2028\u2029]*/g, ' ').replace(/\s+/g, ' ').trim(); // WGSL's line breaks end a comment
  // A UTF-8 round trip gives V8's one-byte strings back for ASCII (and is exact only for ASCII).
  return /^[\x00-\x7f]*$/.test(key) ? utf8.decoder.decode(utf8.encoder.encode(key)) : key;
}

interface Cached<T> {
  value: T;
  /** When it was made (see PipelineCache.mark), so that a failed model creation can take it back. */
  made: number;
}

interface ModuleEntry extends Cached<GPUShaderModule> {
  /** By `${entryPoint} ${layout id}`. */
  pipelines: Map<string, Cached<Promise<GPUComputePipeline>>>;
}

interface LayoutEntry extends Cached<GPUBindGroupLayout> {
  id: number;
  pipelineLayout: GPUPipelineLayout;
}

export class PipelineCache {
  /** By WGSL source (sourceKey), least recently used first. */
  private readonly modules = new Map<string, ModuleEntry>();
  /** By the layout's entries (JSON): a handful of distinct ones, kept while the backend lives. */
  private readonly layouts = new Map<string, LayoutEntry>();
  private readonly layoutEntries = new Map<GPUBindGroupLayout, LayoutEntry>();
  private clock = 0;
  private layoutCount = 0;
  private pipelineCount = 0;

  constructor(private readonly device: GPUDevice, private readonly capacity = CACHED_MODULES) {}

  /** The bind group layout with these entries, made once. */
  bindGroupLayout(entries: GPUBindGroupLayoutEntry[]): GPUBindGroupLayout {
    const key = JSON.stringify(entries);
    let entry = this.layouts.get(key);
    if (entry === undefined) {
      const value = this.device.createBindGroupLayout({ entries });
      const pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [value] });
      entry = { value, pipelineLayout, id: this.layoutCount++, made: ++this.clock };
      this.layouts.set(key, entry);
      this.layoutEntries.set(value, entry);
    }
    return entry.value;
  }

  /**
   * The compute pipeline of `code`'s `entryPoint` over `layout` (one of bindGroupLayout's), compiled
   * once. A compilation that fails is not kept, with its module: the next request compiles afresh.
   */
  pipeline(code: string, layout: GPUBindGroupLayout, entryPoint = 'main'): Promise<GPUComputePipeline> {
    const layoutEntry = this.layoutEntries.get(layout);
    if (layoutEntry === undefined) throw new Error('internal: a pipeline layout that the pipeline cache did not make');
    const source = sourceKey(code);
    let module = this.modules.get(source);
    if (module === undefined) {
      module = { value: this.device.createShaderModule({ code }), made: ++this.clock, pipelines: new Map() };
      this.evict(this.capacity - 1);
    } else {
      this.modules.delete(source); // re-inserted below: most recently used
    }
    this.modules.set(source, module);
    const key = `${entryPoint} ${layoutEntry.id}`;
    let pipeline = module.pipelines.get(key);
    if (pipeline === undefined) {
      const value = this.device.createComputePipelineAsync({ layout: layoutEntry.pipelineLayout, compute: { module: module.value, entryPoint } });
      pipeline = { value, made: ++this.clock };
      module.pipelines.set(key, pipeline);
      this.pipelineCount++;
      const failed = module;
      // The caller hears of the failure from the promise itself.
      value.catch(() => {
        if (this.modules.get(source) === failed) this.drop(source);
      });
    }
    return pipeline.value;
  }

  /** A point in time for forgetSince. */
  mark(): number {
    return this.clock;
  }

  /**
   * Drops what was made after `mark`: a model whose creation the GPU failed (out of memory, a lost
   * device) may have left unusable objects here, and the next model must compile them afresh.
   */
  forgetSince(mark: number): void {
    for (const [code, module] of this.modules) {
      for (const [key, pipeline] of module.pipelines) {
        if (pipeline.made > mark) {
          module.pipelines.delete(key);
          this.pipelineCount--;
        }
      }
      if (module.made > mark) this.drop(code);
    }
    for (const [key, layout] of this.layouts) {
      if (layout.made <= mark) continue;
      this.layouts.delete(key);
      this.layoutEntries.delete(layout.value);
    }
  }

  /** Shader modules and pipelines held (for Backend.stats(): a high-water mark, at most the capacity's). */
  stats(): { shaderModules: number; pipelines: number } {
    return { shaderModules: this.modules.size, pipelines: this.pipelineCount };
  }

  /** Forgets everything (the backend is disposed; the GPU objects go when nothing else holds them). */
  clear(): void {
    this.modules.clear();
    this.layouts.clear();
    this.layoutEntries.clear();
    this.pipelineCount = 0;
  }

  /** Drops the least recently used modules until at most `size` are left. */
  private evict(size: number): void {
    for (const code of this.modules.keys()) {
      if (this.modules.size <= size) return;
      this.drop(code);
    }
  }

  private drop(code: string): void {
    const module = this.modules.get(code);
    if (module === undefined) return;
    this.pipelineCount -= module.pipelines.size;
    this.modules.delete(code);
  }
}
