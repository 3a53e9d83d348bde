export async function writeReport(_: unknown): Promise<string[]> { throw new Error('todo'); }
