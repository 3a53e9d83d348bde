export async function runInChromium(_: unknown): Promise<never> { throw new Error('todo'); }
